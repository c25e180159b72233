"""Every service's command line: `python -m <service>` serves it (also `serve`); `python -m <service> migrate`
brings its database to the code's schema and exits, for migrations run once per release before the new code
serves (the Kubernetes Job in deploy/kubernetes; the services then run with MIGRATE_ON_START=false)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import uvicorn
from fastapi import FastAPI

from dropship_shared.logs import configure_logging, get_logger
from dropship_shared.migrations import upgrade_to_head
from dropship_shared.settings import ServiceSettings

Settings = TypeVar("Settings", bound=ServiceSettings)
COMMANDS = ("serve", "migrate")


def run_service(
    module: str,
    settings: Settings,
    create_app: Callable[[Settings], FastAPI],
    migrations: Path,
    argv: Sequence[str] | None = None,
) -> None:
    parser = argparse.ArgumentParser(
        prog=f"python -m {module}", description="Serve the service, or only migrate its database."
    )
    parser.add_argument(
        "command",
        nargs="?",
        default="serve",
        choices=COMMANDS,
        help="serve: the HTTP API, consumers and background work (default); migrate: the database only, then exit",
    )
    command = parser.parse_args(argv).command
    if command == "migrate":
        configure_logging(settings.service_name, settings.log_level, settings.log_json)
        log = get_logger(module)
        log.info("migrating the database to this code's schema")
        upgrade_to_head(str(migrations), settings.resolved_database_url())
        log.info("database migrated")
        return
    uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port, log_config=None)
