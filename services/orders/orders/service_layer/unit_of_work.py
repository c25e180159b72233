"""The orders unit of work: one transaction over orders, products, payments, customer messages, outbox and inbox."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dropship_shared.unit_of_work import HasEvents, SqlUnitOfWork
from orders.adapters.ledger_payments import LedgerPaymentProvider
from orders.adapters.message_templates import MessageTemplates
from orders.adapters.notification_store import NotificationStore
from orders.adapters.repository import (
    IncomingStockRepository,
    OfferRepository,
    OrderRepository,
    ProductRepository,
    ReleaseEstimateRepository,
    StockReceiptRepository,
)
from orders.domain.model import Order
from orders.domain.routing import RoutingPolicy
from orders.service_layer.ports import PaymentProvider


@dataclass(frozen=True)
class MessageSetup:
    """Which channels each customer message goes to, and how it is rendered."""

    channels: tuple[str, ...] = ("email",)
    templates: MessageTemplates = field(default_factory=MessageTemplates)
    tracking_url_template: str = "https://track.example.com/{carrier}/{tracking_number}"


@dataclass(frozen=True)
class RoutingSetup:
    """The merchant's routing setting: how a backorder's offer is chosen, and whether a line its supplier
    refused moves to the next offer at once (`automatic`) or waits for an operator."""

    policy: RoutingPolicy = field(default_factory=RoutingPolicy)
    automatic: bool = True


class OrdersUnitOfWork(SqlUnitOfWork):
    orders: OrderRepository
    products: ProductRepository
    offers: OfferRepository
    release_estimates: ReleaseEstimateRepository
    incoming: IncomingStockRepository
    receipts: StockReceiptRepository
    payments: PaymentProvider
    notifications: NotificationStore

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        outbox: Table,
        inbox: Table,
        outbox_ready: asyncio.Event | None = None,
        messages: MessageSetup | None = None,
        payments: Callable[[AsyncSession], PaymentProvider] = LedgerPaymentProvider,
        messages_ready: Callable[[], None] | None = None,
        routing: RoutingSetup | None = None,
    ) -> None:
        super().__init__(sessions, outbox, inbox, outbox_ready)
        self.routing = routing or RoutingSetup()
        self._messages = messages or MessageSetup()
        self._payments = payments
        self._messages_ready = messages_ready

    def _open(self) -> None:
        self.orders = OrderRepository(self.session, self.collect)
        self.products = ProductRepository(self.session)
        self.offers = OfferRepository(self.session)
        self.release_estimates = ReleaseEstimateRepository(self.session)
        self.incoming = IncomingStockRepository(self.session)
        self.receipts = StockReceiptRepository(self.session)
        self.payments = self._payments(self.session)
        self.notifications = NotificationStore(
            self.session,
            self._messages.templates,
            list(self._messages.channels),
            self._messages.tracking_url_template,
        )

    def _forwarding(self, aggregate: HasEvents) -> None:
        # The order's customer messages written in this transaction go in the trace of the request or event
        # that first changed it (in a transaction of several, not the first one's).
        if isinstance(aggregate, Order) and (aggregate.events or aggregate.messages):
            self.notifications.follow_trace(aggregate.order_id, self.correlation_id)

    async def commit(self) -> None:
        await super().commit()
        # The sender wakes on the commit that stored messages instead of finding them on its next poll.
        if self.notifications.enqueued and self._messages_ready is not None:
            self._messages_ready()
        self.notifications.enqueued = False
