"""Run the aggregator: `python -m aggregator` serves it, `python -m aggregator migrate` only migrates its database."""

from aggregator.bootstrap import MIGRATIONS, create_app
from aggregator.config import AggregatorSettings
from dropship_shared.service_main import run_service

run_service("aggregator", AggregatorSettings(), create_app, MIGRATIONS)
