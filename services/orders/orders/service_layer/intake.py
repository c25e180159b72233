"""Group commit of the customer's orders: the orders that arrive while a transaction runs share the next one.

Each `POST /orders` waits for the commit that carried its order (a 201 is never answered before), so a
burst of orders costs one transaction (and one fsync) per batch instead of one per order. An order
refused for its own content fails alone; a batch the database refuses is split and each order retried
alone (`dropship_shared.batching.GroupCommit`).
"""

from __future__ import annotations

from prometheus_client import Histogram

from dropship_shared.batching import GroupCommit
from dropship_shared.transient import retry_transient
from dropship_shared.unit_of_work import UnitOfWorkFactory
from orders.domain.model import OrderError
from orders.domain.promise import PromiseRules
from orders.service_layer.handlers import PlacedOrder, PlaceOrder, place_orders, placed_once
from orders.service_layer.unit_of_work import OrdersUnitOfWork

ORDERS_PER_TRANSACTION = Histogram(
    "orders_per_transaction",
    "Orders placed together in one transaction (group commit); a split batch counts each retry alone",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)


class OrderIntake:
    def __init__(
        self, uow_factory: UnitOfWorkFactory[OrdersUnitOfWork], rules: PromiseRules | None = None, max_batch: int = 64
    ) -> None:
        self._uow_factory = uow_factory
        self._rules = rules
        self._group: GroupCommit[tuple[PlaceOrder, str], PlacedOrder] = GroupCommit(
            self._place_batch, max_batch, ORDERS_PER_TRANSACTION, "orders transaction", lambda request: request[1]
        )

    async def place(self, command: PlaceOrder, correlation_id: str) -> PlacedOrder:
        """As `handlers.place_order`: once per idempotency key, answered after the commit."""
        return await placed_once(self._uow_factory, command, lambda: self._group.submit((command, correlation_id)))

    async def _place_batch(self, requests: list[tuple[PlaceOrder, str]]) -> list[PlacedOrder | OrderError]:
        # A passing conflict (deadlock, busy SQLite file, lost connection) is retried in a fresh transaction
        # rather than failing the batch: nothing of a rolled-back attempt was answered.
        return await retry_transient(lambda: place_orders(self._uow_factory, requests, self._rules), "place_orders")
