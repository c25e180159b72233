"""The purchase order and its lines: the state machine from request to shipment, pure rules, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from dropship_shared.events import (
    AcknowledgedLine,
    Address,
    LineCancellationResolved,
    Payload,
    PurchaseOrderAcknowledged,
    PurchaseOrderCancelled,
    PurchaseOrderFailed,
    PurchaseOrderLineLate,
    PurchaseOrderPlaced,
    PurchaseOrderRequested,
    ShipmentUpdated,
    ShippedLine,
)
from supplier_gateway.domain.supplier_exception import Anomaly, ExceptionKind
from supplier_gateway.domain.supplier_messages import (
    AcknowledgedLineStatus,
    Acknowledgement,
    AcknowledgementStatus,
    LineAcknowledgement,
    PackedLine,
    ShipmentNotice,
)


class PurchaseOrderError(Exception):
    """A business rule refused a change (the API turns it into a 4xx; nothing is applied)."""


class InvalidTransition(PurchaseOrderError):
    pass


class UnknownLine(PurchaseOrderError):
    pass


class NothingApplied(PurchaseOrderError):
    """Every part of a supplier message was bad: nothing changed (the anomalies say why)."""

    def __init__(self, message: str, anomalies: list[Anomaly]) -> None:
        super().__init__(message)
        self.anomalies = anomalies


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


CancellationOutcome = str  # "cancelled" | "refused"
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
    anomalies: list[Anomaly] = field(default_factory=list)  # what operations must look at (exceptions inbox)

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
        found = self._find_line(line_no)
        if found is None:
            raise UnknownLine(f"PO {self.po_number} has no line {line_no}")
        return found

    def _find_line(self, line_no: int) -> PurchaseOrderLine | None:
        return next((line for line in self.lines if line.line_no == line_no), None)

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

    def cancel_unsent(self, reason: str, at: datetime) -> None:
        """Operations cancel a PO that has not reached its supplier: it never goes out, every line is
        cancelled, and the orders service hears which customer lines will not come (and why)."""
        if self.state is not PurchaseOrderState.REQUESTED:
            raise InvalidTransition(
                f"PO {self.po_number} is {self.state}: only a PO that has not reached its supplier can be cancelled"
            )
        still_ordered = [line.backorder_line_id for line in self.lines if line.backorder_line_id and line.orderable_qty]
        for line in self.lines:
            line.cancelled_qty = line.quantity
        self._move(PurchaseOrderState.CANCELLED, at, f"cancelled by operations: {reason}")
        self.events.append(
            PurchaseOrderCancelled(
                po_number=self.po_number,
                supplier_id=self.supplier_id,
                reason=reason,
                backorder_line_ids=still_ordered,
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
        entries = ack.lines
        if not entries and ack.status is AcknowledgementStatus.REJECTED:
            # the whole PO refused without naming a line: every line is refused, for the supplier's reason
            reason = ack.reason or "the supplier rejected the purchase order"
            entries = [
                LineAcknowledgement(line.line_no, AcknowledgedLineStatus.REJECTED, 0, None, reason)
                for line in self.lines
            ]
        acknowledged = []
        for entry in entries:
            known = self._find_line(entry.line_no)
            if known is None:
                self.anomalies.append(self._unknown_line(entry.line_no, "acknowledgement"))
            else:
                acknowledged.append((known, entry))
        if entries and not acknowledged:
            refused = f"PO {self.po_number}: the acknowledgement names none of its lines"
            raise NothingApplied(refused, self._take_anomalies())
        self._require_with_supplier(at, "acknowledged")
        emitted: list[AcknowledgedLine] = []
        for line, entry in acknowledged:
            line.acknowledged_as = entry.status
            line.expected_ship_date = entry.expected_ship_date
            line.reason = entry.reason
            still_open = line.quantity - line.shipped_qty - line.cancelled_qty
            if entry.status is AcknowledgedLineStatus.REJECTED:
                line.rejected_qty = min(entry.quantity or line.quantity, still_open)
                line.accepted_qty = 0
            else:
                # what the supplier neither shipped nor takes on is refused: the customer hears of that part
                line.accepted_qty = min(entry.quantity or line.quantity, line.orderable_qty)
                line.rejected_qty = max(still_open - line.accepted_qty, 0)
            emitted.append(
                AcknowledgedLine(
                    backorder_line_id=line.backorder_line_id,
                    line_no=line.line_no,
                    status=entry.status.value,
                    quantity=entry.quantity,
                    expected_ship_date=entry.expected_ship_date,
                    reason=entry.reason,
                    rejected_quantity=line.rejected_qty if entry.status is not AcknowledgedLineStatus.REJECTED else 0,
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
        """Apply a shipment notice once (by shipment id); False for a duplicate. One event per package.

        Every valid line is applied; a line the PO does not have, or more than was ordered, is left out and
        noted as an anomaly. Units we believed cancelled ship all the same (the goods are on their way), noted
        too. NothingApplied when no line of the notice was valid."""
        if notice.shipment_id in self.shipment_ids:
            return False
        shipped = self._valid_shipped_quantities(notice)
        if not shipped:
            refused = f"PO {self.po_number}: no line of shipment {notice.shipment_id} could be applied"
            raise NothingApplied(refused, self._take_anomalies())
        self._require_with_supplier(at, "shipped")
        for line_no, quantity in shipped.items():
            line = self.line(line_no)
            revived = max(line.shipped_qty + quantity - line.orderable_qty, 0)
            if revived:
                line.cancelled_qty -= revived
                self.anomalies.append(
                    Anomaly(
                        ExceptionKind.SHIPPED_AFTER_CANCEL,
                        f"PO {self.po_number} line {line_no}: {revived} unit(s) we believed cancelled were shipped "
                        f"(shipment {notice.shipment_id}); they ship to the customer: decide on a return or refund",
                        line_no,
                        line.backorder_line_id,
                    )
                )
            line.shipped_qty += quantity
            # goods the supplier had refused but shipped after all are goods the customer gets
            line.rejected_qty = min(line.rejected_qty, line.quantity - line.shipped_qty - line.cancelled_qty)
        self.shipment_ids.add(notice.shipment_id)
        packages = [
            (package, [packed for packed in package.lines if packed.line_no in shipped]) for package in notice.packages
        ]
        several = len(notice.packages) > 1
        for number, (package, applied) in enumerate(packages, start=1):
            if not applied:
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
                    lines=[self._shipped_line(packed) for packed in applied],
                )
            )
        self._settle(at)
        return True

    def _valid_shipped_quantities(self, notice: ShipmentNotice) -> dict[int, int]:
        """Units shipped per line, for the lines that can take them; the others become anomalies."""
        shipped: dict[int, int] = {}
        for package in notice.packages:
            for packed in package.lines:
                shipped[packed.line_no] = shipped.get(packed.line_no, 0) + packed.quantity
        valid: dict[int, int] = {}
        for line_no, quantity in shipped.items():
            line = self._find_line(line_no)
            if line is None:
                self.anomalies.append(self._unknown_line(line_no, f"shipment {notice.shipment_id}"))
            elif line.shipped_qty + quantity > line.quantity:
                self.anomalies.append(
                    Anomaly(
                        ExceptionKind.OVER_SHIPMENT,
                        f"PO {self.po_number} line {line_no}: shipment {notice.shipment_id} ships {quantity}, "
                        f"{line.quantity - line.shipped_qty} of {line.quantity} ordered were still to ship; "
                        "this line of the notice is not applied",
                        line_no,
                        line.backorder_line_id,
                    )
                )
            else:
                valid[line_no] = quantity
        return valid

    def _shipped_line(self, packed: PackedLine) -> ShippedLine:
        return ShippedLine(
            backorder_line_id=self.line(packed.line_no).backorder_line_id,
            line_no=packed.line_no,
            quantity=packed.quantity,
        )

    def _take_anomalies(self) -> list[Anomaly]:
        taken, self.anomalies = self.anomalies, []
        return taken

    def _unknown_line(self, line_no: int, what: str) -> Anomaly:
        return Anomaly(
            ExceptionKind.UNKNOWN_LINE, f"PO {self.po_number} has no line {line_no} ({what}); that part is not applied"
        )

    # -- lateness -----------------------------------------------------------------------------
    def late_lines(self, today: date, grace_days: int) -> list[PurchaseOrderLine]:
        """Lines the supplier acknowledged to ship by a date now past (plus the grace), still not shipped in full."""
        if self.state not in (PurchaseOrderState.ACKNOWLEDGED, PurchaseOrderState.PARTIALLY_SHIPPED):
            return []
        return [
            line
            for line in self.lines
            if line.expected_ship_date is not None
            and line.open_qty > 0
            and line.status in (LineStatus.ACCEPTED, LineStatus.BACKORDERED, LineStatus.PARTIALLY_SHIPPED)
            and line.expected_ship_date + timedelta(days=grace_days) < today
        ]

    def lateness(self, line: PurchaseOrderLine, today: date, grace_days: int) -> tuple[Anomaly, PurchaseOrderLineLate]:
        """What operations and the customer's promise hear of a late line: we now assume it ships a grace later."""
        assert line.expected_ship_date is not None
        assumed = today + timedelta(days=grace_days)
        anomaly = Anomaly(
            ExceptionKind.LATE_SHIPMENT,
            f"PO {self.po_number} line {line.line_no}: acknowledged to ship by {line.expected_ship_date}, "
            f"{line.open_qty} unit(s) not shipped by {today}; the customer's promise now assumes {assumed}",
            line.line_no,
            line.backorder_line_id,
        )
        event = PurchaseOrderLineLate(
            po_number=self.po_number,
            supplier_id=self.supplier_id,
            backorder_line_id=line.backorder_line_id,
            line_no=line.line_no,
            expected_ship_date=line.expected_ship_date,
            assumed_ship_date=assumed,
        )
        return anomaly, event

    # -- cancellation -------------------------------------------------------------------------
    @property
    def cancellable_without_supplier(self) -> bool:
        """Not yet sent (or never to be): a cancellation only changes what we will send."""
        return self.state in (PurchaseOrderState.REQUESTED, PurchaseOrderState.FAILED, PurchaseOrderState.CANCELLED)

    def cancel_line(self, backorder_line_id: str, quantity: int, at: datetime) -> None:
        """The line is cancelled (by the supplier, or before sending): it will not be shipped."""
        line = self.line_of_backorder(backorder_line_id)
        line.cancelled_qty += min(quantity, max(line.orderable_qty - line.shipped_qty - line.rejected_qty, 0))
        self._resolve_cancellation(line, "cancelled")
        self._settle(at)

    def refuse_line_cancellation(self, backorder_line_id: str, reason: str) -> None:
        """The supplier refused to cancel (whatever its words: shipped already, too late, ...): the line stays
        as it was, operations hear of it."""
        line = self.line_of_backorder(backorder_line_id)
        self._resolve_cancellation(line, "refused", reason)
        self.anomalies.append(
            Anomaly(
                ExceptionKind.CANCEL_REFUSED,
                f"PO {self.po_number} line {line.line_no}: the supplier refused to cancel: {reason}",
                line.line_no,
                backorder_line_id,
            )
        )

    def _resolve_cancellation(
        self, line: PurchaseOrderLine, outcome: CancellationOutcome, reason: str | None = None
    ) -> None:
        assert line.backorder_line_id is not None
        self.events.append(
            LineCancellationResolved(
                po_number=self.po_number,
                supplier_id=self.supplier_id,
                backorder_line_id=line.backorder_line_id,
                outcome=outcome,
                reason=reason,
            )
        )

    # -- internals ----------------------------------------------------------------------------
    def _require_with_supplier(self, at: datetime, what: str) -> None:
        if self.state is PurchaseOrderState.REQUESTED:
            # the supplier speaks about the PO, so it has it: our own record of sending is late
            self.mark_placed(None, at)
        elif self.state is PurchaseOrderState.CANCELLED and what == "shipped":
            return  # a shipment wins over a cancellation we believed in
        elif self.state not in WITH_SUPPLIER:
            raise InvalidTransition(f"PO {self.po_number} is {self.state}: it cannot be {what}")

    def _settle(self, at: datetime) -> None:
        if self.state in (PurchaseOrderState.REQUESTED, PurchaseOrderState.FAILED):
            if all(line.status is LineStatus.CANCELLED for line in self.lines):
                self._move(PurchaseOrderState.CANCELLED, at)
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
