"""A service with nothing but `GET /whoami` (its process id), served by the services' own `run_service`, so tests
can run several processes of it on one port (HTTP_REUSE_PORT, HTTP_REPLICA_PORT from the environment):

    python tests/support/whoami_service.py
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI

from dropship_shared.service_main import run_service
from dropship_shared.settings import ServiceSettings


def create_app(_settings: ServiceSettings) -> FastAPI:
    app = FastAPI()

    @app.get("/whoami")
    async def whoami() -> int:
        return os.getpid()

    return app


if __name__ == "__main__":
    run_service("whoami", ServiceSettings(service_name="whoami", log_json=False), create_app, Path())
