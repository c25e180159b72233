"""Alembic environment of the aggregator database."""

from aggregator.adapters.orm import metadata
from dropship_shared.migrations import run_env

run_env(metadata)
