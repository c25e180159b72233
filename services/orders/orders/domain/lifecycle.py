"""The order line's lifecycle: its statuses, which moves between them are allowed, and the audit record of each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class LineStatus(StrEnum):
    ALLOCATED = "allocated"  # served from local stock
    BACKORDERED = "backordered"  # waiting in a supplier batch
    ON_PURCHASE_ORDER = "on_purchase_order"
    ACKNOWLEDGED = "acknowledged"  # the supplier accepted it
    BACKORDERED_AT_SUPPLIER = "backordered_at_supplier"  # accepted, but the supplier itself waits for stock
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCEL_REQUESTED = "cancel_requested"  # on a PO: waiting for the supplier to confirm the cancellation
    CANCELLED = "cancelled"
    REJECTED = "rejected"  # the supplier will not supply it


CLOSED = frozenset({LineStatus.CANCELLED, LineStatus.REJECTED})
# A line still waiting for goods from its supplier (what "open backorder" means in the figures).
WAITING = frozenset(
    {
        LineStatus.BACKORDERED,
        LineStatus.ON_PURCHASE_ORDER,
        LineStatus.ACKNOWLEDGED,
        LineStatus.BACKORDERED_AT_SUPPLIER,
        LineStatus.PARTIALLY_SHIPPED,
        LineStatus.CANCEL_REQUESTED,
    }
)
SUPPLIER_ANSWERS = frozenset(
    {LineStatus.ACKNOWLEDGED, LineStatus.BACKORDERED_AT_SUPPLIER, LineStatus.REJECTED, LineStatus.PARTIALLY_SHIPPED}
)
_SHIPPING = frozenset({LineStatus.PARTIALLY_SHIPPED, LineStatus.SHIPPED})

# Events from different services may overtake each other (an acknowledgement or a shipment can
# arrive before orders consumed the PO request), so a backordered line accepts the later steps too.
ALLOWED: dict[LineStatus | None, frozenset[LineStatus]] = {
    None: frozenset({LineStatus.ALLOCATED, LineStatus.BACKORDERED}),
    LineStatus.ALLOCATED: frozenset({LineStatus.DELIVERED}),
    LineStatus.BACKORDERED: frozenset(
        # ALLOCATED: stock received for it in the warehouse before its batch left for the supplier
        {LineStatus.ON_PURCHASE_ORDER, LineStatus.CANCELLED, LineStatus.ALLOCATED} | SUPPLIER_ANSWERS | _SHIPPING
    ),
    # BACKORDERED again: the supplier refused it (or has it too late) and it moved to another offer's batch
    LineStatus.ON_PURCHASE_ORDER: SUPPLIER_ANSWERS | _SHIPPING | {LineStatus.CANCEL_REQUESTED, LineStatus.BACKORDERED},
    LineStatus.ACKNOWLEDGED: SUPPLIER_ANSWERS - {LineStatus.ACKNOWLEDGED}
    | _SHIPPING
    | {LineStatus.CANCEL_REQUESTED, LineStatus.BACKORDERED},
    LineStatus.BACKORDERED_AT_SUPPLIER: SUPPLIER_ANSWERS - {LineStatus.BACKORDERED_AT_SUPPLIER}
    | _SHIPPING
    | {LineStatus.CANCEL_REQUESTED, LineStatus.BACKORDERED},
    LineStatus.PARTIALLY_SHIPPED: frozenset(
        {LineStatus.SHIPPED, LineStatus.CANCEL_REQUESTED, LineStatus.REJECTED, LineStatus.BACKORDERED}
    ),
    LineStatus.CANCEL_REQUESTED: frozenset(
        {LineStatus.CANCELLED, LineStatus.ON_PURCHASE_ORDER, LineStatus.REJECTED} | SUPPLIER_ANSWERS | _SHIPPING
    ),
    LineStatus.SHIPPED: frozenset({LineStatus.DELIVERED}),
    LineStatus.DELIVERED: frozenset(),
    # a shipment wins over a cancellation or a rejection we believed in (a PO an operator sent again)
    LineStatus.CANCELLED: _SHIPPING,
    LineStatus.REJECTED: _SHIPPING,
}


def can_move(from_status: LineStatus | None, to_status: LineStatus) -> bool:
    return to_status in ALLOWED[from_status]


@dataclass(frozen=True)
class Transition:
    """One step of a line's audit trail: what it was, what it became, when and why."""

    line_no: int
    from_status: LineStatus | None
    to_status: LineStatus
    at: datetime
    cause: str
    event_id: str | None = None
