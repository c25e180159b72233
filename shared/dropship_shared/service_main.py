"""Every service's command line: `python -m <service>` serves it (also `serve`); `python -m <service> migrate`
brings its database to the code's schema, declares its broker topology (the queues it consumes from) and exits,
for what is run once per release before the new code serves (the Kubernetes Job in deploy/kubernetes; the
services then run with MIGRATE_ON_START=false).

A service may have workers, each a command of its own (`python -m orders send-messages`): a process doing one part
of the service's background work, served like the service (its /healthz, /readyz and /metrics on HTTP_PORT) so that
it is watched, scraped and stopped (SIGTERM) the same way.

`serve` binds its listening sockets itself and hands them to uvicorn: HTTP_PORT, with SO_REUSEPORT when
HTTP_REUSE_PORT is set (several processes of a service on one host then share the port, and the kernel spreads new
connections over those listening), and HTTP_REPLICA_PORT when set, a port of this process alone."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import uvicorn
from fastapi import FastAPI
from uvicorn.config import STARTUP_FAILURE

from dropship_shared.logs import configure_logging, get_logger
from dropship_shared.migrations import upgrade_to_head
from dropship_shared.runtime import ServiceRuntime
from dropship_shared.settings import ServiceSettings

Settings = TypeVar("Settings", bound=ServiceSettings)
COMMANDS = ("serve", "migrate")


@dataclass(frozen=True)
class Worker(Generic[Settings]):
    """A command running one part of the service's background work in a process of its own."""

    summary: str  # what it does, for --help
    create_app: Callable[[Settings], FastAPI]  # its app: the operational routes, the work in its lifespan


def run_service(
    module: str,
    settings: Settings,
    create_app: Callable[[Settings], FastAPI],
    migrations: Path,
    argv: Sequence[str] | None = None,
    workers: Mapping[str, Worker[Settings]] | None = None,
) -> None:
    workers = workers or {}
    parser = argparse.ArgumentParser(
        prog=f"python -m {module}", description="Serve the service, or only migrate its database."
    )
    parser.add_argument(
        "command",
        nargs="?",
        default="serve",
        choices=COMMANDS + tuple(workers),
        help="serve: the HTTP API, consumers and background work (default); migrate: the database and the broker "
        "topology (queues, bindings), then exit"
        + "".join(f"; {name}: {worker.summary}" for name, worker in workers.items()),
    )
    command = parser.parse_args(argv).command
    if command == "migrate":
        configure_logging(settings.service_name, settings.log_level, settings.log_json)
        log = get_logger(module)
        log.info("migrating the database to this code's schema")
        upgrade_to_head(str(migrations), settings.resolved_database_url())
        log.info("database migrated")
        if settings.migrate_broker_topology and settings.amqp_url:
            declare_broker_topology(create_app(settings), log)
        return
    if command in workers:
        serve(workers[command].create_app(settings), settings, get_logger(module))
        return
    serve(create_app(settings), settings, get_logger(module))


def serve(app: FastAPI, settings: ServiceSettings, log: Any) -> None:
    """The API on the settings' sockets until a signal stops it; exits non-zero if a port cannot be bound or the
    app does not start."""
    try:
        sockets = listening_sockets(settings)
    except OSError as exc:
        log.error("cannot listen", host=settings.http_host, port=settings.http_port, error=str(exc))
        sys.exit(STARTUP_FAILURE)
    log.info(
        "listening once started",
        addresses=[sock.getsockname()[:2] for sock in sockets],
        reuse_port=settings.http_reuse_port,
    )
    server = ServiceServer(uvicorn_config(app, settings.http_host, settings.http_port))
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: uvicorn re-raises it once it has shut down
        server.run(sockets=sockets)
    if not server.started:
        sys.exit(STARTUP_FAILURE)


class ServiceServer(uvicorn.Server):
    """uvicorn's server, which sets the startup heap aside once the app has started (`freeze_startup_heap`)."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)  # returns once the app has started (uvicorn exits if it fails)
        freeze_startup_heap()


def freeze_startup_heap() -> None:
    """Moves every object alive once the service has started (modules, classes, the routes, the models' schemas,
    the engines and their compiled statements: some 165,000 in orders) out of the cyclic garbage collector's
    reach. Left in, each full collection walks all of them again, once or twice a second under load, though they
    live as long as the process: 10-20 % of the CPU of a `POST /orders` (scripts/bench_orders_http.py). What was
    garbage at startup is collected first; an object frozen here that later ends in a reference cycle is not
    collected, so this is done once, when what it keeps is what the process keeps anyway."""
    gc.collect()
    gc.freeze()


def uvicorn_config(app: FastAPI, host: str, port: int) -> uvicorn.Config:
    """How every service is served (scripts/bench_orders_http.py serves the orders app the same way). The requests'
    log lines are the app's (`web.ServiceEdge`, ACCESS_LOG), not uvicorn's access log."""
    return uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False)


def listening_sockets(settings: ServiceSettings) -> list[socket.socket]:
    """HTTP_PORT (shared with the service's other processes on this host under HTTP_REUSE_PORT), then
    HTTP_REPLICA_PORT if set. Bound, not listening: uvicorn listens once the app has started, so until then the
    kernel gives this process none of the shared port's connections."""
    sockets = [bound_socket(settings.http_host, settings.http_port, reuse_port=settings.http_reuse_port)]
    if settings.http_replica_port:
        sockets.append(bound_socket(settings.http_host, settings.http_replica_port, reuse_port=False))
    return sockets


def bound_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: restarts reuse the port
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def declare_broker_topology(app: FastAPI, log: Any) -> None:
    """The queues the service's consumers declare, declared by the same code before any replica runs; exits
    non-zero (the Job fails) when the broker cannot be reached or refuses the topology."""
    runtime: ServiceRuntime = app.state.runtime
    queues = [subscription.queue for subscription in runtime.subscriptions]
    log.info("declaring the broker topology", queues=queues)
    try:
        asyncio.run(_declare_and_dispose(runtime))
    except Exception as exc:
        log.error(
            "broker topology not declared: the broker could not be reached or refused it "
            "(set MIGRATE_BROKER_TOPOLOGY=false to migrate the database only)",
            error=repr(exc),
            broker=runtime.broker.address,
        )
        sys.exit(1)
    log.info("broker topology declared", queues=queues)


async def _declare_and_dispose(runtime: ServiceRuntime) -> None:
    try:
        await runtime.declare_broker_topology()
    finally:
        await runtime.dispose_engines()
