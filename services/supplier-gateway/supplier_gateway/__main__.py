"""Run the supplier gateway: `python -m supplier_gateway` serves it, `python -m supplier_gateway migrate` only
migrates its database."""

from dropship_shared.service_main import run_service
from supplier_gateway.bootstrap import MIGRATIONS, create_app
from supplier_gateway.config import GatewaySettings

run_service("supplier_gateway", GatewaySettings(), create_app, MIGRATIONS)
