"""Event contracts: the one envelope every service publishes and the versioned payload schemas."""

from __future__ import annotations

import builtins
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from dropship_shared.inputs import NO_NUL, Text

SCHEMA_VERSION = 1

P = TypeVar("P", bound=BaseModel)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Payload(BaseModel):
    """Base of every event payload: unknown fields are refused so contract drift shows at once."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Address(Payload):
    name: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    address_lines: list[Text] = Field(min_length=1, max_length=3)
    city: str = Field(min_length=1, max_length=100, pattern=NO_NUL)
    region: str = Field(default="", max_length=100, pattern=NO_NUL)
    postal_code: str = Field(min_length=1, max_length=20, pattern=NO_NUL)
    country: str = Field(min_length=2, max_length=2, pattern=r"^[A-Z]{2}$")
    phone: str | None = Field(default=None, max_length=40, pattern=NO_NUL)


class BackorderCreated(Payload):
    """orders → aggregator: a customer order line (or part of it) could not be served from stock.

    `backorder_line_id` is `<order>-<line>`; a line its supplier refused and orders moved to another offer
    comes again as `<order>-<line>-r<n>` (a new backorder line: the PO that held the old id keeps it)."""

    backorder_line_id: str
    order_id: str
    line_no: int
    sku: str
    supplier_id: str
    supplier_sku: str
    quantity: int = Field(gt=0)
    unit_cost: Decimal = Field(ge=0)
    currency: str = "USD"
    ship_to: Address
    customer_ref: str
    ordered_at: datetime


class BackorderCancelled(Payload):
    """orders → aggregator: a backordered line is not wanted from this supplier any more: out of its batch, or a
    cancel request to the supplier once on a PO.

    `reason`: customer_request (the customer cancelled), rerouted (the line moved to another offer),
    shipped_by_previous_supplier (a supplier the line had left shipped it after all)."""

    backorder_line_id: str
    supplier_id: str
    reason: str = "customer_request"


class BackorderWithdrawalRequested(Payload):
    """orders → aggregator: stock arrived for this backordered line; take it out of its batch if not yet released."""

    backorder_line_id: str
    supplier_id: str
    quantity: int = Field(gt=0)  # the units set aside for it, given back to stock if the batch already left


class BackorderWithdrawn(Payload):
    """aggregator → orders: the answer to a withdrawal request: `withdrawn` (the line left its batch, or never
    arrived in one: it will be ignored when it does) or not (already on a purchase order, or cancelled)."""

    backorder_line_id: str
    supplier_id: str
    withdrawn: bool


class PurchaseOrderLine(Payload):
    line_no: int
    backorder_line_id: str | None  # None for surplus units shipped to the merchant's warehouse
    sku: str
    supplier_sku: str
    quantity: int = Field(gt=0)
    unit_cost: Decimal
    ship_to: Address
    customer_ref: str


class PurchaseOrderRequested(Payload):
    """aggregator → gateway: a batch was released; place this PO with the supplier.

    `release_reason`: minimum_met, deadline, operator, or fee_cheaper_than_waiting (below the minimum, the
    supplier's small-order fee cost less than waiting; `release_figures` then carries the comparison as
    decimal text: lines, extra_days, delay_cost_per_line_day, delay_cost, credits, cancellation_share,
    waiting_cost, small_order_fee)."""

    po_number: str
    supplier_id: str
    currency: str
    release_reason: str
    below_minimum: bool = False
    # A release for the small-order fee: the waiting cost it was compared with (names → decimal text).
    release_figures: dict[str, str] | None = None
    lines: list[PurchaseOrderLine] = Field(min_length=1)


class BatchReleaseExpected(Payload):
    """aggregator → orders: when the batch holding these lines is expected to be released.

    For an empty batch (no lines named), `first_line_wait_seconds` says how long a backorder arriving
    into it is expected to wait for the release, counted from its own arrival; `expected_release_at` is
    then that of a line arriving when the estimate was made."""

    supplier_id: str
    expected_release_at: datetime
    backorder_line_ids: list[str]
    first_line_wait_seconds: float | None = Field(default=None, ge=0)
    # The batch goes out by then at the latest (its oldest line's deadline): a promise an estimate has to move
    # later moves there at once, so estimates move it later once at most.
    latest_release_at: datetime | None = None
    # Where the batch stands (issue 12's routing: a line that completes a batch leaves before one joining an
    # empty one). Absent from an older aggregator: orders then takes the batch's minimums as unknown.
    pending_units: int | None = Field(default=None, ge=0)
    pending_value: Decimal | None = Field(default=None, ge=0)  # at catalog cost
    min_units: int | None = Field(default=None, ge=0)  # the policy's minimums; 0: none
    min_value: Decimal | None = Field(default=None, ge=0)
    next_cutoff_at: datetime | None = None  # a batch completed now goes out then (None: at once)


class BatchEscalated(Payload):
    """aggregator → orders/ops: a batch reached its max wait below minimum and is held for a decision."""

    supplier_id: str
    backorder_line_ids: list[str]
    oldest_received_at: datetime


class PurchaseOrderCancelRequested(Payload):
    """aggregator → gateway: a line was cancelled after its PO was released."""

    po_number: str
    supplier_id: str
    backorder_line_id: str
    line_no: int
    quantity: int


class PurchaseOrderPlaced(Payload):
    """gateway → orders: the supplier received the PO."""

    po_number: str
    supplier_id: str
    supplier_order_id: str | None
    backorder_line_ids: list[str]


class AcknowledgedLine(Payload):
    backorder_line_id: str | None
    line_no: int
    status: str  # accepted | backordered | rejected
    quantity: int
    expected_ship_date: date | None = None
    reason: str | None = None
    rejected_quantity: int = Field(default=0, ge=0)  # accepted or backordered in part: the rest is refused


class PurchaseOrderAcknowledged(Payload):
    """gateway → orders: the supplier said what it will ship and when."""

    po_number: str
    supplier_id: str
    status: str  # accepted | partial | rejected
    lines: list[AcknowledgedLine]


class PurchaseOrderFailed(Payload):
    """gateway → orders/ops: the supplier refused the PO outright (4xx) or could not be reached for good."""

    po_number: str
    supplier_id: str
    reason: str
    backorder_line_ids: list[str]


class PurchaseOrderCancelled(Payload):
    """gateway → orders: operations cancelled a PO before it reached its supplier; it never goes out, and its
    lines (those still ordered) will not come."""

    po_number: str
    supplier_id: str
    reason: str  # the operator's words, told to the customers
    backorder_line_ids: list[str]


class ShippedLine(Payload):
    backorder_line_id: str | None
    line_no: int
    quantity: int = Field(gt=0)


class ShipmentUpdated(Payload):
    """gateway → orders: goods left the supplier for the customer."""

    shipment_id: str
    po_number: str
    supplier_id: str
    shipped_at: datetime
    carrier_name: str
    carrier_scac: str | None = None
    service: str | None = None
    tracking_number: str
    tracking_url: str | None = None
    lines: list[ShippedLine] = Field(min_length=1)


class LineCancellationResolved(Payload):
    """gateway → orders/aggregator: the supplier's answer to our cancel request."""

    po_number: str
    supplier_id: str
    backorder_line_id: str
    outcome: str  # cancelled | refused (the supplier refused in any wording, e.g. because it already shipped)
    reason: str | None = None  # the supplier's words, verbatim (bounded)


class PurchaseOrderLineLate(Payload):
    """gateway → orders: a line acknowledged to ship by a date is past it (and a grace) with no notice."""

    po_number: str
    supplier_id: str
    backorder_line_id: str | None
    line_no: int
    expected_ship_date: date  # what the supplier acknowledged
    assumed_ship_date: date  # what the customer's promise assumes now


class SupplierExceptionOpened(Payload):
    """gateway → operations: a supplier answer the gateway could not turn into a normal outcome, or a dead letter
    of any service (kind `dead_letter`), filed in the exceptions inbox."""

    exception_id: str
    kind: str
    supplier_id: str | None = None  # None: a dead letter that names no supplier
    po_number: str | None = None
    line_no: int | None = None
    backorder_line_id: str | None = None
    order_id: str | None = None
    detail: str
    received: str | None = None  # what the supplier sent, verbatim (bounded)
    opened_at: datetime


class SupplierExceptionResolved(Payload):
    """gateway → operations: an operator resolved a supplier exception, with a note."""

    exception_id: str
    kind: str
    supplier_id: str | None = None  # None: a dead letter that names no supplier
    po_number: str | None = None
    note: str
    resolved_at: datetime


class DeadLetterRecorded(Payload):
    """any service → gateway (exceptions inbox): a message its consumer could never handle went to the queue's
    dead-letter queue (`<queue>.dlq`), where it waits to be looked at and replayed."""

    queue: str  # the consuming queue; the message is in `<queue>.dlq`
    routing_key: str  # the event type it was published under
    message_id: str | None = None  # the event id, for a replay of just this message
    reason: str  # malformed | handler_failed
    error: str  # why, bounded
    body: str  # the start of the message, as text
    dead_lettered_at: datetime


EVENT_TYPES: dict[str, type[Payload]] = {
    "backorder.created": BackorderCreated,
    "backorder.cancelled": BackorderCancelled,
    "backorder.withdrawal_requested": BackorderWithdrawalRequested,
    "backorder.withdrawn": BackorderWithdrawn,
    "batch.release_expected": BatchReleaseExpected,
    "batch.escalated": BatchEscalated,
    "purchase_order.requested": PurchaseOrderRequested,
    "purchase_order.cancel_requested": PurchaseOrderCancelRequested,
    "purchase_order.placed": PurchaseOrderPlaced,
    "purchase_order.acknowledged": PurchaseOrderAcknowledged,
    "purchase_order.failed": PurchaseOrderFailed,
    "purchase_order.cancelled": PurchaseOrderCancelled,
    "purchase_order.line_cancellation_resolved": LineCancellationResolved,
    "purchase_order.line_late": PurchaseOrderLineLate,
    "shipment.updated": ShipmentUpdated,
    "supplier_exception.opened": SupplierExceptionOpened,
    "supplier_exception.resolved": SupplierExceptionResolved,
    "dead_letter.recorded": DeadLetterRecorded,
}
EVENT_TYPE_OF: dict[type[Payload], str] = {model: name for name, model in EVENT_TYPES.items()}


class EventError(ValueError):
    """A message that is not a valid event: it belongs in the dead-letter queue."""


class Envelope(BaseModel):
    """The one envelope: identity, type, time and correlation around a typed payload."""

    model_config = ConfigDict(frozen=True)

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str
    version: int = SCHEMA_VERSION
    occurred_at: datetime = Field(default_factory=utcnow)
    correlation_id: str
    # W3C trace context of the span that emitted the event (None when tracing is off): it waits in the outbox
    # with the event and the relay carries it on as the message's `traceparent` header. Before the payload, so
    # the relay finds it first in the stored JSON.
    traceparent: str | None = None
    payload: dict[str, Any]
    # The typed payload `from_bytes` validated, with the dict it was validated from: the consumers' handlers take
    # it from `payload_as` instead of validating the payload a second time.
    _validated: tuple[dict[str, Any], Payload] | None = PrivateAttr(default=None)

    def __eq__(self, other: object) -> bool:
        """Equal by content, whether or not the payload was validated on the way in."""
        return type(other) is type(self) and self.__dict__ == other.__dict__

    @classmethod
    def wrap(
        cls, payload: Payload, correlation_id: str, event_id: uuid.UUID | None = None, traceparent: str | None = None
    ) -> Envelope:
        return cls(
            event_id=event_id or uuid.uuid4(),
            type=EVENT_TYPE_OF[type(payload)],
            correlation_id=correlation_id,
            traceparent=traceparent,
            payload=payload.model_dump(mode="json"),
        )

    def payload_as(self, model: builtins.type[P]) -> P:
        """The payload as `model`: the one validated on delivery (`from_bytes`), else validated now."""
        if self._validated is not None:
            source, typed = self._validated
            if source is self.payload and isinstance(typed, model):  # a copy with another payload is validated
                return typed
        return model.model_validate(self.payload)

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, body: bytes) -> Envelope:
        """Parse and validate the envelope and its payload against the catalogue; EventError if not valid."""
        try:
            envelope = cls.model_validate_json(body)
        except ValidationError as exc:
            raise EventError(f"invalid envelope: {exc.errors(include_url=False)}") from exc
        model = EVENT_TYPES.get(envelope.type)
        if model is None:
            raise EventError(f"unknown event type {envelope.type!r}")
        if envelope.version != SCHEMA_VERSION:
            raise EventError(f"unsupported version {envelope.version} of {envelope.type}")
        try:
            envelope._validated = (envelope.payload, model.model_validate(envelope.payload))
        except ValidationError as exc:
            raise EventError(f"invalid {envelope.type} payload: {exc.errors(include_url=False)}") from exc
        return envelope
