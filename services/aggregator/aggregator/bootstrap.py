"""The one place where the aggregator's real adapters are wired together."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from aggregator.adapters import operations_figures
from aggregator.adapters.oidc import OidcProvider
from aggregator.adapters.orm import inbox, metadata, operator_actions, outbox
from aggregator.adapters.peer_services import PeerServices
from aggregator.adapters.repository import RecentLineDetails
from aggregator.adapters.service_token import ServiceCredentials
from aggregator.config import AggregatorSettings
from aggregator.domain.waiting import ConsolationTerms
from aggregator.entrypoints import api, console_api, consumer, dashboard, dashboard_sign_in
from aggregator.entrypoints.access import AGGREGATOR_ACCESS
from aggregator.entrypoints.dashboard_session import DashboardSessions
from aggregator.entrypoints.scheduler import run_scheduler
from aggregator.service_layer.batches import BatchCache
from aggregator.service_layer.handlers import MerchantTerms
from aggregator.service_layer.unit_of_work import AggregatorUnitOfWork
from dropship_shared.audit import install_audit_log
from dropship_shared.auth import install_authorization
from dropship_shared.body_limits import install_body_limits
from dropship_shared.logs import configure_logging
from dropship_shared.runtime import ServiceRuntime
from dropship_shared.tracing import native_fastapi_telemetry
from dropship_shared.web import install_dead_letter_routes, install_operational_routes

MIGRATIONS = Path(__file__).parent / "migrations"
MAX_BODY_BYTES = 1_000_000  # every body but a policy (see its route); counted as the bytes arrive


def create_app(settings: AggregatorSettings | None = None) -> FastAPI:
    settings = settings or AggregatorSettings()
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    runtime = ServiceRuntime(settings, metadata, outbox, MIGRATIONS)

    recent_lines = RecentLineDetails()

    def uow_factory() -> AggregatorUnitOfWork:
        uow = AggregatorUnitOfWork(runtime.sessions, outbox, inbox, runtime.outbox_ready)
        uow.recent_lines = recent_lines
        return uow

    batches = BatchCache(settings.default_max_wait_seconds, partitioned=settings.supplier_partitions > 0)
    terms = MerchantTerms(
        settings.merchant_warehouse,
        ConsolationTerms(settings.consolation_threshold_days, settings.consolation_percent),
    )

    runtime.figures.add("batches", lambda: operations_figures.batch_figures(runtime.figure_sessions))

    runtime.subscriptions = [
        consumer.subscription(
            settings.queue_name("aggregator"),
            uow_factory,
            batches,
            terms,
            max_batch=settings.prefetch,
            partitions=settings.supplier_partitions,
        )
    ]

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start(
            loops={
                "scheduler": lambda: run_scheduler(uow_factory, batches, terms, settings.scheduler_interval_seconds)
            },
        )
        yield
        await runtime.stop()
        await peers.aclose()

    app = FastAPI(
        title="Aggregator",
        version="0.1.0",
        description="Batches backorders per supplier until its minimums are met or its max wait runs out.",
        lifespan=lifespan,
        telemetry=native_fastapi_telemetry(),
    )
    sessions = DashboardSessions(settings.dashboard_session_key, settings.dashboard_session_hours * 3600)
    install_authorization(app, settings, AGGREGATOR_ACCESS, extra_source=sessions.caller)
    app.state.dashboard_sessions = sessions
    app.state.oidc_provider = OidcProvider(
        settings.oidc_authorization_url,
        settings.oidc_token_url,
        settings.oidc_client_id,
        settings.oidc_client_secret,
        settings.oidc_scope,
    )
    app.state.dev_sign_in = settings.dashboard_dev_sign_in
    app.state.uow_factory = uow_factory
    app.state.batches = batches
    app.state.merchant_terms = terms
    peers = PeerServices(
        settings.orders_url,
        settings.gateway_url,
        ServiceCredentials(
            settings.peer_token,
            settings.peer_token_url,
            settings.peer_client_id,
            settings.peer_client_secret,
            settings.peer_scope,
        ),
    )
    app.state.peers = peers
    app.state.queue = settings.queue_name("aggregator")
    app.state.runtime = runtime
    install_operational_routes(app, runtime.readiness, runtime.figures, access_log=settings.access_log)
    install_audit_log(app, runtime.sessions, operator_actions)
    install_dead_letter_routes(app, runtime.broker, settings.queue_name("aggregator"), runtime.outbox_lag)
    app.include_router(api.router)
    app.include_router(dashboard.router)
    app.include_router(console_api.router)
    app.include_router(dashboard_sign_in.router)
    app.mount("/dashboard/static", StaticFiles(directory=dashboard.STATIC), name="dashboard-static")
    install_body_limits(app, MAX_BODY_BYTES, {"PUT /suppliers/{supplier_id}/policy": api.MAX_POLICY_BYTES})
    app.add_middleware(console_api.UnchangedViews)
    return app
