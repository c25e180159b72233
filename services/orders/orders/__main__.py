"""Run the orders service: `python -m orders`."""

import uvicorn

from orders.bootstrap import create_app
from orders.config import OrdersSettings

settings = OrdersSettings()
uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port, log_config=None)
