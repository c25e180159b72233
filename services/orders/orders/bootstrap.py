"""The one place where the orders service's real adapters are wired together."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from dropship_shared.logs import configure_logging
from dropship_shared.runtime import ServiceRuntime
from dropship_shared.web import install_operational_routes
from orders.adapters.orm import inbox, metadata, outbox
from orders.config import OrdersSettings
from orders.entrypoints import api, consumer
from orders.service_layer.unit_of_work import OrdersUnitOfWork

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: OrdersSettings | None = None) -> FastAPI:
    settings = settings or OrdersSettings()
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    runtime = ServiceRuntime(settings, metadata, outbox, MIGRATIONS)

    def uow_factory() -> OrdersUnitOfWork:
        return OrdersUnitOfWork(runtime.sessions, outbox, inbox, runtime.outbox_ready)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start([consumer.subscription(settings.queue_name("orders"), uow_factory)], loops={})
        yield
        await runtime.stop()

    app = FastAPI(
        title="Orders",
        version="0.1.0",
        description="Takes customer orders, serves them from stock, backorders the rest and tracks each line.",
        lifespan=lifespan,
    )
    app.state.uow_factory = uow_factory
    app.state.runtime = runtime
    install_operational_routes(app, runtime.readiness)
    app.include_router(api.router)
    return app
