"""What the service layer needs from a supplier connection; adapters implement it per protocol."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from supplier_gateway.domain.purchase_order import PurchaseOrder
from supplier_gateway.domain.supplier import Supplier
from supplier_gateway.domain.supplier_messages import SupplierMessage


class SupplierRefused(Exception):
    """The supplier answered and refused (a 4xx): retrying the same request will not help."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason  # the supplier's own words, bounded
        self.status = status


class SupplierUnreachable(Exception):
    """The supplier could not be reached, or gave no usable answer (after retries, or its circuit is open):
    try again later."""

    def __init__(
        self, reason: str, retry_after: float | None = None, *, attempts: int = 0, last_status: int | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.attempts = attempts
        self.last_status = last_status


@dataclass(frozen=True)
class Placement:
    supplier_order_id: str | None
    replayed: bool = False  # the supplier had the PO already (a re-send after a crash or a lost answer)


@dataclass(frozen=True)
class CancellationAnswer:
    """The supplier's clear answer to a cancel request (an unclear one raises SupplierUnreachable)."""

    accepted: bool
    reason: str | None = None  # the supplier's words when it refused


@dataclass(frozen=True)
class FeedEvent:
    event_id: str
    message: SupplierMessage


@dataclass(frozen=True)
class FeedPage:
    events: list[FeedEvent]
    next_cursor: int


class PurchaseOrderChannel(Protocol):
    """Places POs with a supplier and asks it to cancel lines (HTTP/JSON here; X12 sends documents)."""

    async def place(self, supplier: Supplier, po: PurchaseOrder) -> Placement: ...

    async def cancel_line(
        self, supplier: Supplier, po_number: str, line_no: int, quantity: int, idempotency_key: str
    ) -> CancellationAnswer: ...

    async def poll(self, supplier: Supplier, po_number: str, cursor: int) -> FeedPage: ...


class DocumentChannel(Protocol):
    """Sends a ready-made document (an X12 interchange) to a supplier's endpoint (its base URL unless `url`)."""

    async def send(self, supplier: Supplier, document: str, url: str | None = None) -> None: ...
