"""Run the orders service: `python -m orders` serves it, `python -m orders migrate` only migrates its database."""

from dropship_shared.service_main import run_service
from orders.bootstrap import MIGRATIONS, create_app
from orders.config import OrdersSettings

run_service("orders", OrdersSettings(), create_app, MIGRATIONS)
