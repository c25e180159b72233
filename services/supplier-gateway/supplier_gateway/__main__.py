"""Run the supplier gateway: `python -m supplier_gateway`."""

import uvicorn

from supplier_gateway.bootstrap import create_app
from supplier_gateway.config import GatewaySettings

settings = GatewaySettings()
uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port, log_config=None)
