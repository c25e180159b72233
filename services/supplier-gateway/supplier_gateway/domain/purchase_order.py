"""The purchase order and its lines: the state machine from request to shipment, pure rules, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from dropship_shared.events import (
    AcknowledgedLine,
    Address,
    LineCancellationResolved,
    Payload,
    PurchaseOrderAcknowledged,
    PurchaseOrderFailed,
    PurchaseOrderPlaced,
    PurchaseOrderRequested,
    ShipmentUpdated,
    ShippedLine,
)
from supplier_gateway.domain.supplier_messages import (
    AcknowledgedLineStatus,
    Acknowledgement,
    ShipmentNotice,
)


class PurchaseOrderError(Exception):
    """A business rule refused a change (the API turns it into a 4xx; nothing is applied)."""


class InvalidTransition(PurchaseOrderError):
    pass


class UnknownLine(PurchaseOrderError):
    pass


class OverShipment(PurchaseOrderError):
    pass


class PurchaseOrderState(StrEnum):
    REQUESTED = "requested"  # released by the aggregator, not yet with the supplier
    SENT = "sent"  # the supplier has it (it answered our placement)
    ACKNOWLEDGED = "acknowledged"  # the supplier said what it will ship (see `acknowledgement`)
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"  # nothing left open and something shipped
    CLOSED = "closed"  # nothing left open, nothing shipped (all rejected, or rejected and cancelled)
    CANCELLED = "cancelled"  # every line cancelled
    FAILED = "failed"  # the supplier refused the PO outright; an operator may retry


class LineStatus(StrEnum):
    ORDERED = "ordered"
    ACCEPTED = "accepted"
    BACKORDERED = "backordered"  # at the supplier, with a new expected ship date
    REJECTED = "rejected"
    PARTIALLY_SHIPPED = "partially_shipped"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"


CancellationOutcome = str  # "cancelled" | "already_shipped"
PLACEABLE = frozenset({PurchaseOrderState.REQUESTED})
WITH_SUPPLIER = frozenset(
    {
        PurchaseOrderState.SENT,
        PurchaseOrderState.ACKNOWLEDGED,
        PurchaseOrderState.PARTIALLY_SHIPPED,
        PurchaseOrderState.SHIPPED,
        PurchaseOrderState.CLOSED,
    }
)


@dataclass
class PurchaseOrderLine:
    line_no: int
    backorder_line_id: str | None
    sku: str
    supplier_sku: str
    quantity: int
    unit_cost: Decimal
    ship_to: Address
    customer_ref: str
    acknowledged_as: AcknowledgedLineStatus | None = None
    accepted_qty: int = 0
    rejected_qty: int = 0
    shipped_qty: int = 0
    cancelled_qty: int = 0
    expected_ship_date: date | None = None
    reason: str | None = None

    @property
    def open_qty(self) -> int:
        """Units still expected from the supplier."""
        return max(self.quantity - self.shipped_qty - self.cancelled_qty - self.rejected_qty, 0)

    @property
    def orderable_qty(self) -> int:
        """Units to put on the PO when it is (re)sent: cancellations before sending are left off."""
        return self.quantity - self.cancelled_qty

    @property
    def status(self) -> LineStatus:
        if self.cancelled_qty >= self.quantity:
            return LineStatus.CANCELLED
        if self.shipped_qty:
            return LineStatus.SHIPPED if self.open_qty == 0 else LineStatus.PARTIALLY_SHIPPED
        if self.rejected_qty and self.open_qty == 0:
            return LineStatus.REJECTED
        if self.acknowledged_as is AcknowledgedLineStatus.BACKORDERED:
            return LineStatus.BACKORDERED
        if self.acknowledged_as is not None and self.acknowledged_as is not AcknowledgedLineStatus.REJECTED:
            return LineStatus.ACCEPTED
        return LineStatus.ORDERED


@dataclass(frozen=True)
class StateChange:
    state: PurchaseOrderState
    at: datetime
    note: str | None = None


@dataclass
class PurchaseOrder:
    po_number: str
    supplier_id: str
    currency: str
    release_reason: str
    below_minimum: bool
    lines: list[PurchaseOrderLine]
    state: PurchaseOrderState
    created_at: datetime
    supplier_order_id: str | None = None
    acknowledgement: str | None = None  # accepted | partial | rejected, once acknowledged
    failure_reason: str | None = None
    correlation_id: str = "-"  # of the request that released the PO: every later event about it carries it
    shipment_ids: set[str] = field(default_factory=set)
    history: list[StateChange] = field(default_factory=list)
    events: list[Payload] = field(default_factory=list)

    @classmethod
    def request(cls, requested: PurchaseOrderRequested, at: datetime, correlation_id: str = "-") -> PurchaseOrder:
        po = cls(
            po_number=requested.po_number,
            supplier_id=requested.supplier_id,
            currency=requested.currency,
            release_reason=requested.release_reason,
            below_minimum=requested.below_minimum,
            lines=[
                PurchaseOrderLine(
                    line_no=line.line_no,
                    backorder_line_id=line.backorder_line_id,
                    sku=line.sku,
                    supplier_sku=line.supplier_sku,
                    quantity=line.quantity,
                    unit_cost=line.unit_cost,
                    ship_to=line.ship_to,
                    customer_ref=line.customer_ref,
                )
                for line in requested.lines
            ],
            state=PurchaseOrderState.REQUESTED,
            created_at=at,
            correlation_id=correlation_id,
        )
        po.history.append(StateChange(PurchaseOrderState.REQUESTED, at, requested.release_reason))
        return po

    # -- queries ------------------------------------------------------------------------------
    def line(self, line_no: int) -> PurchaseOrderLine:
        for line in self.lines:
            if line.line_no == line_no:
                return line
        raise UnknownLine(f"PO {self.po_number} has no line {line_no}")

    def line_of_backorder(self, backorder_line_id: str) -> PurchaseOrderLine:
        for line in self.lines:
            if line.backorder_line_id == backorder_line_id:
                return line
        raise UnknownLine(f"PO {self.po_number} has no line for backorder {backorder_line_id}")

    @property
    def lines_to_send(self) -> list[PurchaseOrderLine]:
        return [line for line in self.lines if line.orderable_qty > 0]

    @property
    def backorder_line_ids(self) -> list[str]:
        return [line.backorder_line_id for line in self.lines if line.backorder_line_id is not None]

    # -- placement ----------------------------------------------------------------------------
    def mark_placed(self, supplier_order_id: str | None, at: datetime) -> bool:
        """The supplier has the PO; False when that was known already (a re-send or a callback came first)."""
        if self.state in WITH_SUPPLIER:
            if self.supplier_order_id is None and supplier_order_id:
                self.supplier_order_id = supplier_order_id
            return False
        if self.state not in PLACEABLE:
            raise InvalidTransition(f"PO {self.po_number} is {self.state}: it cannot be placed")
        self.supplier_order_id = supplier_order_id
        self._move(PurchaseOrderState.SENT, at)
        self.events.append(
            PurchaseOrderPlaced(
                po_number=self.po_number,
                supplier_id=self.supplier_id,
                supplier_order_id=supplier_order_id,
                backorder_line_ids=self.backorder_line_ids,
            )
        )
        return True

    def fail(self, reason: str, at: datetime) -> None:
        """The supplier refused the PO outright (a 4xx, or a negative 997 before any acknowledgement): the
        orders service tells the customers, an operator decides."""
        if self.state not in (PurchaseOrderState.REQUESTED, PurchaseOrderState.SENT):
            raise InvalidTransition(f"PO {self.po_number} is {self.state}: it cannot fail")
        self.failure_reason = reason
        self._move(PurchaseOrderState.FAILED, at, reason)
        self.events.append(
            PurchaseOrderFailed(
                po_number=self.po_number,
                supplier_id=self.supplier_id,
                reason=reason,
                backorder_line_ids=self.backorder_line_ids,
            )
        )

    def retry(self, at: datetime) -> None:
        """An operator sends a failed PO again (same PO number, so the supplier still sees one order)."""
        if self.state is not PurchaseOrderState.FAILED:
            raise InvalidTransition(f"PO {self.po_number} is {self.state}: only failed POs are retried")
        self.failure_reason = None
        self._move(PurchaseOrderState.REQUESTED, at, "operator retry")

    # -- what the supplier tells us -------------------------------------------------------------
    def acknowledge(self, ack: Acknowledgement, at: datetime) -> None:
        """Record the supplier's acknowledgement; it may arrive before our own record of sending, or after
        a shipment (callbacks are not ordered), and a later one updates an earlier one."""
        self._require_with_supplier(at, "acknowledged")
        acknowledged = [(self.line(entry.line_no), entry) for entry in ack.lines]
        emitted: list[AcknowledgedLine] = []
        for line, entry in acknowledged:
            line.acknowledged_as = entry.status
            line.expected_ship_date = entry.expected_ship_date
            line.reason = entry.reason
            if entry.status is AcknowledgedLineStatus.REJECTED:
                refused = entry.quantity or line.quantity
                line.rejected_qty = min(refused, line.quantity - line.shipped_qty - line.cancelled_qty)
                line.accepted_qty = 0
            else:
                line.rejected_qty = 0
                line.accepted_qty = min(entry.quantity or line.quantity, line.orderable_qty)
            emitted.append(
                AcknowledgedLine(
                    backorder_line_id=line.backorder_line_id,
                    line_no=line.line_no,
                    status=entry.status.value,
                    quantity=entry.quantity,
                    expected_ship_date=entry.expected_ship_date,
                    reason=entry.reason,
                )
            )
        self.acknowledgement = ack.status.value
        if self.state is PurchaseOrderState.SENT:
            self._move(PurchaseOrderState.ACKNOWLEDGED, at, ack.status.value)
        self._settle(at)
        self.events.append(
            PurchaseOrderAcknowledged(
                po_number=self.po_number, supplier_id=self.supplier_id, status=ack.status.value, lines=emitted
            )
        )

    def record_shipment(self, notice: ShipmentNotice, at: datetime) -> bool:
        """Apply a shipment notice once (by shipment id); False for a duplicate. One event per package."""
        if notice.shipment_id in self.shipment_ids:
            return False
        self._require_with_supplier(at, "shipped")
        shipped: dict[int, int] = {}
        for package in notice.packages:
            for packed in package.lines:
                self.line(packed.line_no)
                shipped[packed.line_no] = shipped.get(packed.line_no, 0) + packed.quantity
        for line_no, quantity in shipped.items():
            line = self.line(line_no)
            if line.shipped_qty + quantity > line.orderable_qty:
                raise OverShipment(
                    f"PO {self.po_number} line {line_no}: {quantity} more shipped than the "
                    f"{line.orderable_qty - line.shipped_qty} still ordered"
                )
        for line_no, quantity in shipped.items():
            line = self.line(line_no)
            line.shipped_qty += quantity
            # goods the supplier had refused but shipped after all are goods the customer gets
            line.rejected_qty = min(line.rejected_qty, line.quantity - line.shipped_qty - line.cancelled_qty)
        self.shipment_ids.add(notice.shipment_id)
        several = len(notice.packages) > 1
        for number, package in enumerate(notice.packages, start=1):
            if not package.lines:
                continue
            self.events.append(
                ShipmentUpdated(
                    # the orders service applies a shipment once per line and shipment id: one id per package
                    shipment_id=f"{notice.shipment_id}/{number}" if several else notice.shipment_id,
                    po_number=self.po_number,
                    supplier_id=self.supplier_id,
                    shipped_at=notice.shipped_at,
                    carrier_name=notice.carrier_name,
                    carrier_scac=notice.carrier_scac,
                    service=notice.service,
                    tracking_number=package.tracking_number,
                    tracking_url=package.tracking_url,
                    lines=[
                        ShippedLine(
                            backorder_line_id=self.line(packed.line_no).backorder_line_id,
                            line_no=packed.line_no,
                            quantity=packed.quantity,
                        )
                        for packed in package.lines
                    ],
                )
            )
        self._settle(at)
        return True

    # -- cancellation -------------------------------------------------------------------------
    @property
    def cancellable_without_supplier(self) -> bool:
        """Not yet sent: a cancellation only changes what we will send."""
        return self.state in (PurchaseOrderState.REQUESTED, PurchaseOrderState.FAILED)

    def cancel_line(self, backorder_line_id: str, quantity: int, at: datetime) -> None:
        """The line is cancelled (by the supplier, or before sending): it will not be shipped."""
        line = self.line_of_backorder(backorder_line_id)
        line.cancelled_qty += min(quantity, max(line.orderable_qty - line.shipped_qty - line.rejected_qty, 0))
        self._resolve_cancellation(line, "cancelled")
        self._settle(at)

    def refuse_line_cancellation(self, backorder_line_id: str) -> None:
        """The supplier could not cancel: the goods already left."""
        self._resolve_cancellation(self.line_of_backorder(backorder_line_id), "already_shipped")

    def _resolve_cancellation(self, line: PurchaseOrderLine, outcome: CancellationOutcome) -> None:
        assert line.backorder_line_id is not None
        self.events.append(
            LineCancellationResolved(
                po_number=self.po_number,
                supplier_id=self.supplier_id,
                backorder_line_id=line.backorder_line_id,
                outcome=outcome,
            )
        )

    # -- internals ----------------------------------------------------------------------------
    def _require_with_supplier(self, at: datetime, what: str) -> None:
        if self.state is PurchaseOrderState.REQUESTED:
            # the supplier speaks about the PO, so it has it: our own record of sending is late
            self.mark_placed(None, at)
        elif self.state not in WITH_SUPPLIER:
            raise InvalidTransition(f"PO {self.po_number} is {self.state}: it cannot be {what}")

    def _settle(self, at: datetime) -> None:
        if self.state in (PurchaseOrderState.REQUESTED, PurchaseOrderState.FAILED):
            if all(line.status is LineStatus.CANCELLED for line in self.lines):
                self._move(PurchaseOrderState.CANCELLED, at)
            return
        if self.state is PurchaseOrderState.CANCELLED:
            return
        anything_shipped = any(line.shipped_qty for line in self.lines)
        if all(line.open_qty == 0 for line in self.lines):
            if anything_shipped:
                self._move(PurchaseOrderState.SHIPPED, at)
            elif all(line.status is LineStatus.CANCELLED for line in self.lines):
                self._move(PurchaseOrderState.CANCELLED, at)
            else:
                self._move(PurchaseOrderState.CLOSED, at)
        elif anything_shipped:
            self._move(PurchaseOrderState.PARTIALLY_SHIPPED, at)

    def _move(self, state: PurchaseOrderState, at: datetime, note: str | None = None) -> None:
        if state is self.state:
            return
        self.state = state
        self.history.append(StateChange(state, at, note))
