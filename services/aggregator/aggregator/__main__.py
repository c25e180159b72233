"""Run the aggregator service: `python -m aggregator`."""

import uvicorn

from aggregator.bootstrap import create_app
from aggregator.config import AggregatorSettings

settings = AggregatorSettings()
uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port, log_config=None)
