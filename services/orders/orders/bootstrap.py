"""The one place where the orders service's real adapters are wired together."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from dropship_shared.audit import install_audit_log
from dropship_shared.auth import install_authorization
from dropship_shared.body_limits import install_body_limits
from dropship_shared.logs import configure_logging
from dropship_shared.runtime import BackgroundLoop, ServiceRuntime
from dropship_shared.tracing import native_fastapi_telemetry
from dropship_shared.web import install_dead_letter_routes, install_operational_routes
from orders.adapters.channels import EmailChannel, WebhookChannel
from orders.adapters.message_signals import message_signals
from orders.adapters.message_templates import MessageTemplates
from orders.adapters.orm import inbox, metadata, operator_actions, outbox
from orders.config import OrdersSettings
from orders.entrypoints import api, catalog_api, consumer, line_views_api, metrics_api
from orders.entrypoints.access import ORDERS_ACCESS
from orders.service_layer.intake import OrderIntake
from orders.service_layer.message_delivery import DeliveryPolicy, MessageDelivery
from orders.service_layer.ports import MessageChannel
from orders.service_layer.receiving import Receiving
from orders.service_layer.unit_of_work import MessageSetup, OrdersUnitOfWork

MIGRATIONS = Path(__file__).parent / "migrations"
MAX_BODY_BYTES = 1_000_000  # far above any real order (200 lines); counted as the bytes arrive, chunked or not


def message_channels(settings: OrdersSettings) -> list[MessageChannel]:
    channels: list[MessageChannel] = []
    for name in settings.channel_names():
        if name == "email":
            channels.append(
                EmailChannel(
                    settings.smtp_host,
                    settings.smtp_port,
                    settings.smtp_sender,
                    settings.smtp_username,
                    settings.smtp_password,
                    settings.smtp_start_tls,
                    connections=settings.notify_concurrency,
                )
            )
        else:  # "webhook", the other of the settings' KNOWN_CHANNELS
            channels.append(
                WebhookChannel(
                    settings.notify_webhook_url,
                    settings.notify_webhook_secret,
                    connections=settings.notify_concurrency,
                )
            )
    return channels


def message_setup(settings: OrdersSettings) -> MessageSetup:
    return MessageSetup(
        channels=settings.channel_names(),
        templates=MessageTemplates(settings.shop_name),
        tracking_url_template=settings.tracking_url_template,
    )


def customer_message_delivery(settings: OrdersSettings, runtime: ServiceRuntime) -> MessageDelivery:
    """The customer-message sender, in the orders process (MESSAGE_SENDER=in_process) or in its own."""
    channels = message_channels(settings)
    delivery_policy = DeliveryPolicy(
        poll_seconds=settings.notify_poll_seconds,
        first_retry=timedelta(seconds=settings.notify_first_retry_seconds),
        batch_size=max(64, 4 * settings.notify_concurrency),
        in_flight=4 * max(64, 4 * settings.notify_concurrency),
        claimant=settings.message_claimant(),
    )
    # Claims, records and the backlog are single statements: autocommit spares each two round trips.
    delivery_sessions = runtime.own_sessions(pool_size=3, autocommit=True)
    setup = message_setup(settings)

    def delivery_uow() -> OrdersUnitOfWork:
        return OrdersUnitOfWork(delivery_sessions, outbox, inbox, messages=setup)

    return MessageDelivery(delivery_uow, channels, delivery_policy)


def create_app(settings: OrdersSettings | None = None) -> FastAPI:
    settings = settings or OrdersSettings()
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    runtime = ServiceRuntime(settings, metadata, outbox, MIGRATIONS)
    rules = settings.promise_rules()
    routing = settings.routing_setup()
    messages = message_setup(settings)
    # MESSAGE_SENDER=separate: the messages are stored here and sent by `python -m orders send-messages`.
    sends_here = settings.message_sender == "in_process" and settings.channel_names()
    delivery = customer_message_delivery(settings, runtime) if sends_here else None

    def uow_factory() -> OrdersUnitOfWork:
        return OrdersUnitOfWork(
            runtime.sessions,
            outbox,
            inbox,
            runtime.outbox_ready,
            messages=messages,
            messages_ready=delivery.wake if delivery is not None else None,
            routing=routing,
        )

    read_sessions = runtime.reader_sessions()

    def read_uow_factory() -> OrdersUnitOfWork:
        return OrdersUnitOfWork(read_sessions, outbox, inbox, messages=messages)

    runtime.subscriptions = [
        consumer.subscription(settings.queue_name("orders"), uow_factory, rules, settings.prefetch)
    ]

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        loops: dict[str, BackgroundLoop] = {"customer-messages": delivery.run} if delivery is not None else {}
        loops["receiving"] = Receiving(uow_factory, rules, timedelta(seconds=settings.receiving_interval_seconds)).run
        await runtime.start(loops=loops)
        yield
        await runtime.stop()
        if delivery is not None:
            await delivery.close()

    app = FastAPI(
        title="Orders",
        version="0.2.0",
        description="Takes customer orders, serves them from stock, backorders the rest and keeps the customer "
        "informed from promise to delivery.",
        lifespan=lifespan,
        telemetry=native_fastapi_telemetry(),
    )
    install_authorization(app, settings, ORDERS_ACCESS)
    # Requests are matched against the routes in the order they were included, one by one: the orders routes
    # (POST /orders, GET /orders/{id}) first, not after the operational and catalog ones (18 routes tried before).
    api.install_intake_route(app)
    app.include_router(api.router)
    app.state.uow_factory = uow_factory
    app.state.read_uow_factory = read_uow_factory
    app.state.runtime = runtime
    app.state.promise_rules = rules
    app.state.intake = OrderIntake(uow_factory, rules)
    install_operational_routes(app, runtime.readiness, runtime.figures, access_log=settings.access_log)
    install_audit_log(app, runtime.sessions, operator_actions)
    install_dead_letter_routes(app, runtime.broker, settings.queue_name("orders"), runtime.outbox_lag)

    app.include_router(catalog_api.router)
    app.include_router(metrics_api.router)
    app.include_router(line_views_api.router)
    install_body_limits(app, MAX_BODY_BYTES, {"PUT /products": catalog_api.MAX_CATALOG_BYTES})
    return app


def create_sender_app(settings: OrdersSettings | None = None) -> FastAPI:
    """`python -m orders send-messages`: the customer-message sender alone, beside orders processes run with
    MESSAGE_SENDER=separate. Its own connections, its own claims (INSTANCE_ID), woken by the database when
    messages are stored; /healthz, /readyz (its database) and /metrics (the customer_messages_* figures)."""
    settings = settings or OrdersSettings()
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    runtime = ServiceRuntime(settings, metadata, outbox, MIGRATIONS)
    delivery = customer_message_delivery(settings, runtime)
    signals = message_signals(settings.resolved_database_url(), delivery.wake, settings.message_sender_poll_seconds)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start_worker(loops={"customer-messages": delivery.run, "stored-messages": signals})
        yield
        await runtime.stop()
        await delivery.close()

    app = FastAPI(title="Orders: customer-message sender", openapi_url=None, lifespan=lifespan)
    install_operational_routes(app, runtime.worker_readiness, access_log=settings.access_log)
    return app
