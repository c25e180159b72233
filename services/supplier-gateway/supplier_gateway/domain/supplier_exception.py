"""Supplier exceptions: answers the gateway could not turn into a normal outcome, kept for operations to
resolve (the exceptions inbox). Pure rules, no I/O."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from dropship_shared.events import DeadLetterRecorded, Payload, SupplierExceptionOpened, SupplierExceptionResolved

DETAIL_LIMIT = 1000
RECEIVED_LIMIT = 4000


class ExceptionKind(StrEnum):
    PURCHASE_ORDER_REFUSED = "purchase_order_refused"  # the supplier refused the PO at placement
    SUPPLIER_NOT_REGISTERED = "supplier_not_registered"  # a PO for a supplier the gateway cannot reach
    SUPPLIER_UNREACHABLE = "supplier_unreachable"  # we gave up sending the PO
    FAILED_BY_OPERATOR = "failed_by_operator"
    CANCEL_REFUSED = "cancel_refused"  # the supplier refused our cancel request: the line stays as it was
    CANCEL_UNANSWERED = "cancel_unanswered"  # no readable answer to a cancel request yet: still asking
    SHIPPED_AFTER_CANCEL = "shipped_after_cancel"  # a shipment for units we believed cancelled: it ships
    OVER_SHIPMENT = "over_shipment"  # more shipped than ordered on a line: that line is not applied
    UNKNOWN_LINE = "unknown_line"  # a shipment or acknowledgement names a line the PO does not have
    UNKNOWN_PURCHASE_ORDER = "unknown_purchase_order"  # a message names a PO we do not know
    MESSAGE_NOT_APPLIED = "message_not_applied"  # an X12 set the PO's state refuses (e.g. a notice for a failed PO)
    LATE_SHIPMENT = "late_shipment"  # acknowledged to ship by a date now past (and a grace), nothing shipped
    DEAD_LETTER = "dead_letter"  # a message some service's consumer could never handle (any service, any event)


class ExceptionAlreadyResolved(Exception):
    pass


@dataclass(frozen=True)
class DeadLetterSource:
    """Where a dead letter waits (`<queue>.dlq`) and how to find it again to replay it."""

    queue: str
    routing_key: str
    message_id: str | None


@dataclass(frozen=True)
class Anomaly:
    """What a purchase order noticed while applying a supplier answer; the service layer files it."""

    kind: ExceptionKind
    detail: str
    line_no: int | None = None
    backorder_line_id: str | None = None


def order_of(backorder_line_id: str | None) -> str | None:
    """The customer order a backorder line belongs to (the orders service names lines `<order>-<line>`, and
    `<order>-<line>-r<n>` once a line moved to another supplier)."""
    if not backorder_line_id or "-" not in backorder_line_id:
        return None
    head, _, last = backorder_line_id.rpartition("-")
    if last.startswith("r") and last[1:].isdigit() and "-" in head:
        head = head.rpartition("-")[0]
    return head


@dataclass
class SupplierException:
    exception_id: str
    kind: ExceptionKind
    supplier_id: str | None  # None: a dead letter that names no supplier
    detail: str
    opened_at: datetime
    dedupe_key: str  # the same anomaly seen again (a resent message, a retried call) is filed once
    po_number: str | None = None
    line_no: int | None = None
    backorder_line_id: str | None = None
    order_id: str | None = None
    received: str | None = None
    resolved_at: datetime | None = None
    resolution_note: str | None = None
    dead_letter: DeadLetterSource | None = None
    events: list[Payload] = field(default_factory=list)

    @classmethod
    def open(
        cls,
        anomaly: Anomaly,
        supplier_id: str,
        po_number: str | None,
        source: str,
        at: datetime,
        received: str | None = None,
    ) -> SupplierException:
        """`source` names what showed the anomaly (a shipment id, an event id, a cancel request)."""
        found = cls(
            exception_id=str(uuid.uuid4()),
            kind=anomaly.kind,
            supplier_id=supplier_id,
            detail=anomaly.detail[:DETAIL_LIMIT],
            opened_at=at,
            dedupe_key=f"{anomaly.kind}:{supplier_id}:{po_number}:{anomaly.line_no}:{source}"[:300],
            po_number=po_number,
            line_no=anomaly.line_no,
            backorder_line_id=anomaly.backorder_line_id,
            order_id=order_of(anomaly.backorder_line_id),
            received=received[:RECEIVED_LIMIT] if received is not None else None,
        )
        found._announce()
        return found

    @classmethod
    def of_dead_letter(cls, recorded: DeadLetterRecorded, notice_id: str, at: datetime) -> SupplierException:
        """A dead letter as an exception: the supplier, PO and line it speaks of when its payload says (the
        inbox filters by them), the queue and message id it can be replayed by."""
        payload = _payload_of(recorded.body)
        backorder_line_id = _text(payload.get("backorder_line_id"))
        what = recorded.routing_key or "message"
        found = cls(
            exception_id=str(uuid.uuid4()),
            kind=ExceptionKind.DEAD_LETTER,
            supplier_id=_text(payload.get("supplier_id"), 64),
            detail=_storable(
                f"{recorded.queue}: {what} {recorded.message_id or '(no id)'} could not be handled "
                f"({recorded.reason}) and waits in {recorded.queue}.dlq: {recorded.error}"
            )[:DETAIL_LIMIT],
            opened_at=at,
            dedupe_key=f"{ExceptionKind.DEAD_LETTER}:{recorded.queue}:{recorded.message_id}:{notice_id}"[:300],
            po_number=_text(payload.get("po_number"), 64),
            backorder_line_id=backorder_line_id,
            order_id=_text(payload.get("order_id"), 100) or order_of(backorder_line_id),
            received=_storable(recorded.body)[:RECEIVED_LIMIT],
            dead_letter=DeadLetterSource(
                _storable(recorded.queue)[:200],
                _storable(recorded.routing_key)[:200],
                _storable(recorded.message_id)[:200] if recorded.message_id else None,
            ),
        )
        found._announce()
        return found

    def _announce(self) -> None:
        self.events.append(
            SupplierExceptionOpened(
                exception_id=self.exception_id,
                kind=self.kind.value,
                supplier_id=self.supplier_id,
                po_number=self.po_number,
                line_no=self.line_no,
                backorder_line_id=self.backorder_line_id,
                order_id=self.order_id,
                detail=self.detail,
                received=self.received,
                opened_at=self.opened_at,
            )
        )

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    def resolve(self, note: str, at: datetime) -> None:
        if not self.is_open:
            raise ExceptionAlreadyResolved(f"exception {self.exception_id} was resolved at {self.resolved_at}")
        self.resolved_at = at
        self.resolution_note = note
        self.events.append(
            SupplierExceptionResolved(
                exception_id=self.exception_id,
                kind=self.kind.value,
                supplier_id=self.supplier_id,
                po_number=self.po_number,
                note=note,
                resolved_at=at,
            )
        )


def _payload_of(body: str) -> dict[str, Any]:
    """The payload of a dead message when it is a readable envelope (it may be cut short, or not JSON)."""
    try:
        envelope = json.loads(body)
    except ValueError:
        return {}
    payload = envelope.get("payload") if isinstance(envelope, dict) else None
    return payload if isinstance(payload, dict) else {}


def _text(value: object, limit: int = 100) -> str | None:
    """A short printable string from a dead message, or None (it may hold anything)."""
    if not isinstance(value, str) or not value or len(value) > limit or not value.isprintable():
        return None
    return value


def _storable(text: str) -> str:
    return text.replace("\x00", "\ufffd")
