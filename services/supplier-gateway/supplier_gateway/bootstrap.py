"""The one place where the supplier gateway's real adapters are wired together."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI

from dropship_shared.audit import install_audit_log
from dropship_shared.auth import install_authorization
from dropship_shared.body_limits import install_body_limits
from dropship_shared.logs import configure_logging
from dropship_shared.runtime import ServiceRuntime
from dropship_shared.tracing import native_fastapi_telemetry
from dropship_shared.web import install_dead_letter_routes, install_operational_routes
from supplier_gateway.adapters import operations_figures
from supplier_gateway.adapters.http_channel import HttpPurchaseOrderChannel
from supplier_gateway.adapters.http_supplier import HttpSupplierClient, HttpSupplierConfig, RetryPolicy, SupplierLimits
from supplier_gateway.adapters.orm import inbox, metadata, operator_actions, outbox
from supplier_gateway.adapters.secret_box import SecretBox
from supplier_gateway.adapters.x12_transport import HttpDocumentChannel
from supplier_gateway.config import GatewaySettings
from supplier_gateway.domain.supplier import TradingPartner
from supplier_gateway.entrypoints import (
    callbacks_api,
    consumer,
    edi_api,
    exceptions_api,
    purchase_orders_api,
    supplier_health_api,
    suppliers_api,
)
from supplier_gateway.entrypoints.access import GATEWAY_ACCESS
from supplier_gateway.service_layer.cancellations import CancellationPolicy, LineCancellationResolver
from supplier_gateway.service_layer.dispatcher import DispatchPolicy, PurchaseOrderDispatcher
from supplier_gateway.service_layer.edi_outbound import (
    AcknowledgementPolicy,
    AcknowledgementSender,
    OurX12Identity,
    X12LineCancellation,
    X12Placement,
)
from supplier_gateway.service_layer.late_shipments import LatenessPolicy, LateShipmentWatch
from supplier_gateway.service_layer.polling import PollingPolicy, SupplierFeedPoller
from supplier_gateway.service_layer.unit_of_work import GatewayUnitOfWork

MIGRATIONS = Path(__file__).parent / "migrations"
MAX_BODY_BYTES = 1_000_000  # supplier documents have their own limits (see their routes)


def supplier_client_config(settings: GatewaySettings) -> HttpSupplierConfig:
    """Timeouts, retries and per-supplier protection of every call to a supplier (JSON and X12 alike)."""
    return HttpSupplierConfig(
        timeout=settings.supplier_timeout_seconds,
        retry=RetryPolicy(
            max_attempts=settings.supplier_max_attempts,
            backoff_base=settings.supplier_backoff_base_seconds,
            backoff_max=settings.supplier_backoff_max_seconds,
            retry_after_cap=settings.supplier_retry_after_cap_seconds,
        ),
        limits=SupplierLimits(
            failure_threshold=settings.circuit_failure_threshold,
            reset_timeout=settings.circuit_reset_seconds,
        ),
    )


def dispatch_policy(settings: GatewaySettings) -> DispatchPolicy:
    return DispatchPolicy(
        interval_seconds=settings.dispatch_interval_seconds,
        lease_seconds=settings.dispatch_lease_seconds,
        batch_size=settings.dispatch_batch_size,
        concurrency_per_supplier=settings.dispatch_concurrency_per_supplier,
        retry_base_seconds=settings.dispatch_retry_base_seconds,
        retry_max_seconds=settings.dispatch_retry_max_seconds,
        give_up_attempts=settings.dispatch_give_up_attempts,
        give_up_seconds=settings.dispatch_give_up_seconds,
    )


def x12_identity(settings: GatewaySettings) -> OurX12Identity:
    return OurX12Identity(
        TradingPartner(settings.x12_isa_qualifier, settings.x12_isa_id, settings.x12_gs_id),
        settings.x12_buyer_name,
        settings.x12_usage_indicator,
    )


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    runtime = ServiceRuntime(settings, metadata, outbox, MIGRATIONS)
    dispatch_ready = asyncio.Event()

    secrets = SecretBox(settings.supplier_secrets_key)

    def uow_factory() -> GatewayUnitOfWork:
        return GatewayUnitOfWork(runtime.sessions, outbox, inbox, runtime.outbox_ready, secrets=secrets)

    suppliers_client = HttpSupplierClient(config=supplier_client_config(settings))
    http = HttpPurchaseOrderChannel(suppliers_client)
    edi_transport = HttpDocumentChannel(suppliers_client)
    us = x12_identity(settings)
    x12 = X12Placement(uow_factory, edi_transport, us)
    dispatcher = PurchaseOrderDispatcher(
        uow_factory, http, x12.place, dispatch_policy(settings), settings.instance_id, dispatch_ready
    )
    cancellations = LineCancellationResolver(
        uow_factory,
        http,
        CancellationPolicy(
            interval_seconds=settings.cancellation_interval_seconds,
            lease_seconds=settings.dispatch_lease_seconds,
            retry_base_seconds=settings.dispatch_retry_base_seconds,
            retry_max_seconds=settings.dispatch_retry_max_seconds,
        ),
        X12LineCancellation(uow_factory, edi_transport, us),
    )
    late_shipments = LateShipmentWatch(
        uow_factory,
        LatenessPolicy(
            interval_seconds=settings.late_shipment_check_seconds, grace_days=settings.late_shipment_grace_days
        ),
    )
    acknowledgements = AcknowledgementSender(
        uow_factory,
        edi_transport,
        AcknowledgementPolicy(
            interval_seconds=settings.x12_acknowledgement_interval_seconds,
            lease_seconds=settings.dispatch_lease_seconds,
            retry_seconds=settings.x12_acknowledgement_retry_seconds,
        ),
    )
    poller = SupplierFeedPoller(uow_factory, http, PollingPolicy(interval_seconds=settings.polling_interval_seconds))
    runtime.figures.add("purchase_orders", lambda: operations_figures.purchase_order_figures(runtime.figure_sessions))
    runtime.figures.add("exceptions", lambda: operations_figures.exception_figures(runtime.figure_sessions))
    runtime.figures.add("circuits", lambda: operations_figures.circuit_figures(suppliers_client))

    runtime.subscriptions = [
        consumer.subscription(settings.queue_name("supplier-gateway"), uow_factory, dispatch_ready)
    ]

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start(
            loops={
                "po-dispatcher": dispatcher.run,
                "line-cancellations": cancellations.run,
                "supplier-feed-poller": poller.run,
                "late-shipments": late_shipments.run,
                "x12-acknowledgements": acknowledgements.run,
            },
        )
        yield
        await runtime.stop()
        await suppliers_client.aclose()

    app = FastAPI(
        title="Supplier gateway",
        version="0.1.0",
        description="Places drop-ship purchase orders with suppliers (HTTP/JSON or EDI X12) and turns what the "
        "suppliers answer (acknowledgements, shipment notices) into events.",
        lifespan=lifespan,
        telemetry=native_fastapi_telemetry(),
    )
    install_authorization(app, settings, GATEWAY_ACCESS)
    app.state.settings = settings
    app.state.uow_factory = uow_factory
    app.state.runtime = runtime
    app.state.dispatcher = dispatcher
    app.state.suppliers_client = suppliers_client
    app.state.dispatch_ready = dispatch_ready
    app.state.x12_identity = us
    install_operational_routes(app, runtime.readiness, runtime.figures, access_log=settings.access_log)
    install_audit_log(app, runtime.sessions, operator_actions)
    install_dead_letter_routes(app, runtime.broker, settings.queue_name("supplier-gateway"), runtime.outbox_lag)
    app.include_router(suppliers_api.router)
    app.include_router(callbacks_api.router)
    app.include_router(edi_api.router)
    app.include_router(purchase_orders_api.router)
    app.include_router(exceptions_api.router)
    app.include_router(supplier_health_api.router)
    install_body_limits(
        app,
        MAX_BODY_BYTES,
        {
            "POST /suppliers/{supplier_id}/callbacks": callbacks_api.MAX_BODY_BYTES,
            "POST /suppliers/{supplier_id}/callbacks/{kind}": callbacks_api.MAX_BODY_BYTES,
            "POST /suppliers/{supplier_id}/edi": settings.edi_max_body_bytes,
        },
    )
    return app
