"""Stock received into the merchant's warehouse: which waiting lines it serves first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from orders.domain.model import backorder_line_id


@dataclass(frozen=True)
class WaitingLine:
    """A backordered line of the received SKU that has not left for the supplier yet."""

    order_id: str
    line_no: int
    quantity: int  # the units it still waits for
    placed_at: datetime
    awaits_incoming: bool  # promised from these incoming units, or waiting for an operator: in no supplier batch
    route_no: int = 0  # times re-routed (its backorder line id's suffix)
    supplier_id: str | None = None  # whose batch it waits in

    @property
    def backorder_line_id(self) -> str:
        return backorder_line_id(self.order_id, self.line_no, self.route_no)


@dataclass(frozen=True)
class ReceiptPlan:
    serve: tuple[WaitingLine, ...]  # served from the warehouse now
    withdraw: tuple[WaitingLine, ...]  # units set aside while the aggregator takes them out of their batch
    left: int  # units left in stock for new orders


def plan_receipt(on_hand: int, waiting: list[WaitingLine]) -> ReceiptPlan:
    """Received units go to the lines promised from them first, then to the oldest lines still waiting in a
    supplier batch, then to new orders. Whole lines only (a line has one source); a line too big for what
    is left is passed over for a smaller, younger one rather than leaving units idle."""
    serve: list[WaitingLine] = []
    withdraw: list[WaitingLine] = []
    left = on_hand
    for line in sorted(waiting, key=lambda w: (not w.awaits_incoming, w.placed_at, w.order_id, w.line_no)):
        if 0 < line.quantity <= left:
            (serve if line.awaits_incoming else withdraw).append(line)
            left -= line.quantity
    return ReceiptPlan(tuple(serve), tuple(withdraw), left)
