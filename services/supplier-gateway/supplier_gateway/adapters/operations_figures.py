"""What operations alert on in the gateway, read when Prometheus scrapes: POs by state per supplier, the
oldest PO still waiting to be sent, open exceptions in the inbox, and each supplier's circuit breaker.

The database figures are the same on every replica (aggregate them with `max`); the circuit state is this
replica's own breaker (`max` across replicas: open somewhere is open)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dropship_shared.events import utcnow
from dropship_shared.metrics import age_seconds, gauge
from supplier_gateway.adapters.circuit_breaker import CircuitState
from supplier_gateway.adapters.http_supplier import HttpSupplierClient
from supplier_gateway.adapters.orm import purchase_orders, supplier_exceptions
from supplier_gateway.domain.purchase_order import PurchaseOrderState
from supplier_gateway.domain.supplier_exception import ExceptionKind

# The states a PO can still leave (and `failed`, which waits for a person). Terminal states only grow, so
# they are not gauged: their flow shows in the rates of the events.
OPEN_STATES = (
    PurchaseOrderState.REQUESTED,
    PurchaseOrderState.SENT,
    PurchaseOrderState.ACKNOWLEDGED,
    PurchaseOrderState.PARTIALLY_SHIPPED,
    PurchaseOrderState.FAILED,
)
CIRCUIT_VALUES = {CircuitState.CLOSED: 0, CircuitState.HALF_OPEN: 1, CircuitState.OPEN: 2}


async def purchase_order_figures(sessions: async_sessionmaker[AsyncSession]) -> list[Any]:
    """One grouped read over the dispatch index (state, supplier_id, ...), open states only."""
    by_state = gauge(
        "purchase_orders",
        "Purchase orders in a state that still moves (requested, sent, acknowledged, partially_shipped) or "
        "waits for a person (failed), per supplier",
        ["supplier_id", "state"],
    )
    oldest = gauge(
        "purchase_orders_oldest_requested_age_seconds",
        "Age of the oldest PO released to a supplier and not yet sent to it",
        ["supplier_id"],
    )
    query = (
        select(
            purchase_orders.c.supplier_id,
            purchase_orders.c.state,
            func.count(),
            func.min(purchase_orders.c.created_at),
        )
        .where(purchase_orders.c.state.in_([state.value for state in OPEN_STATES]))
        .group_by(purchase_orders.c.supplier_id, purchase_orders.c.state)
    )
    async with sessions() as session:
        rows = (await session.execute(query)).all()
    now = utcnow()
    for supplier_id, state, count, first in rows:
        by_state.add_metric([supplier_id, state], count)
        if state == PurchaseOrderState.REQUESTED.value:
            oldest.add_metric([supplier_id], age_seconds(first, now))
    return [by_state, oldest]


async def exception_figures(sessions: async_sessionmaker[AsyncSession]) -> list[Any]:
    """Open exceptions in the inbox by kind (the open-exceptions index: resolved rows are not read)."""
    found = gauge("supplier_exceptions_open", "Exceptions in the gateway's inbox not yet resolved, by kind", ["kind"])
    oldest = gauge("supplier_exceptions_oldest_open_age_seconds", "Age of the oldest unresolved exception")
    query = (
        select(supplier_exceptions.c.kind, func.count(), func.min(supplier_exceptions.c.opened_at))
        .where(supplier_exceptions.c.resolved_at.is_(None))
        .group_by(supplier_exceptions.c.kind)
    )
    async with sessions() as session:
        rows = (await session.execute(query)).all()
    now = utcnow()
    counts = {kind.value: 0 for kind in ExceptionKind} | {kind: count for kind, count, _ in rows}
    for kind, count in counts.items():
        found.add_metric([kind], count)
    oldest.add_metric([], max((age_seconds(first, now) for _, _, first in rows), default=0.0))
    return [found, oldest]


async def circuit_figures(client: HttpSupplierClient) -> list[Any]:
    circuits = gauge(
        "supplier_circuit_state",
        "This replica's circuit breaker per supplier: 0 closed, 1 half-open (trying), 2 open (not calling)",
        ["supplier_id"],
    )
    for supplier_id, state in sorted(client.circuit_states().items()):
        circuits.add_metric([supplier_id], CIRCUIT_VALUES[state])
    return [circuits]
