"""The gateway API's request and response bodies."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, Field, SecretStr, field_validator, model_validator

from dropship_shared.events import Address
from dropship_shared.inputs import NO_NUL, PlainMoney, StrictBody
from supplier_gateway.adapters.dispatch_queue import DispatchStatus
from supplier_gateway.domain.purchase_order import PurchaseOrder
from supplier_gateway.domain.supplier import Supplier, SupplierProtocol, TradingPartner
from supplier_gateway.domain.supplier_exception import SupplierException

MAX_GIVE_UP_SECONDS = 90 * 86400.0


class TradingPartnerIn(StrictBody):
    isa_qualifier: str = Field(min_length=2, max_length=2, pattern=r"^[A-Z0-9]{2}$")
    isa_id: str = Field(min_length=1, max_length=15, pattern=r"^[A-Za-z0-9 ._-]+$")
    gs_id: str = Field(min_length=2, max_length=15, pattern=r"^[A-Za-z0-9 ._-]+$")
    acknowledgement_url: AnyHttpUrl | None = Field(
        default=None,
        description="where we POST our 997s and TA1s (signed like our 850s); null: they are the answer to its POST",
    )

    def to_domain(self) -> TradingPartner:
        url = str(self.acknowledgement_url) if self.acknowledgement_url else None
        return TradingPartner(self.isa_qualifier, self.isa_id, self.gs_id, url)

    @classmethod
    def of(cls, partner: TradingPartner) -> TradingPartnerIn:
        return cls.model_validate(
            {
                "isa_qualifier": partner.isa_qualifier,
                "isa_id": partner.isa_id,
                "gs_id": partner.gs_id,
                "acknowledgement_url": partner.acknowledgement_url,
            }
        )


class SupplierIn(StrictBody):
    name: str = Field(default="", max_length=200, pattern=NO_NUL)
    protocol: Literal["http", "x12"]
    base_url: AnyHttpUrl = Field(description="HTTP: the supplier API root; X12: its EDI endpoint")
    signing_secret: SecretStr = Field(min_length=16, max_length=200)
    polling: bool = Field(default=False, description="no callbacks: the gateway polls the supplier's event feed")
    requests_per_second: float | None = Field(default=10.0, gt=0, le=10_000)
    timeout_seconds: float | None = Field(default=None, gt=0, le=300)
    x12: TradingPartnerIn | None = None
    active: bool = True
    give_up_attempts: int | None = Field(
        default=None, ge=1, le=10_000, description="sending attempts before a PO fails (null: the gateway default)"
    )
    give_up_seconds: float | None = Field(
        default=None,
        gt=0,
        le=MAX_GIVE_UP_SECONDS,
        description="age of a PO still not placed before it fails (null: the gateway default)",
    )

    @field_validator("signing_secret")
    @classmethod
    def _storable_secret(cls, secret: SecretStr) -> SecretStr:
        if "\x00" in secret.get_secret_value():
            raise ValueError("the signing secret must not contain NUL characters")
        return secret

    @model_validator(mode="after")
    def _x12_needs_partner_ids(self) -> SupplierIn:
        if self.protocol == "x12" and self.x12 is None:
            raise ValueError("x12 suppliers need x12 trading partner ids (isa_qualifier, isa_id, gs_id)")
        if self.protocol == "x12" and self.polling:
            raise ValueError("polling is offered by HTTP/JSON suppliers only")
        return self

    def to_domain(self, supplier_id: str) -> Supplier:
        return Supplier(
            supplier_id=supplier_id,
            name=self.name or supplier_id,
            protocol=SupplierProtocol(self.protocol),
            base_url=str(self.base_url).rstrip("/"),
            signing_secret=self.signing_secret.get_secret_value(),
            polling=self.polling,
            requests_per_second=self.requests_per_second,
            timeout_seconds=self.timeout_seconds,
            x12_partner=self.x12.to_domain() if self.x12 else None,
            active=self.active,
            give_up_attempts=self.give_up_attempts,
            give_up_seconds=self.give_up_seconds,
        )


class SupplierOut(BaseModel):
    """A registry entry; the signing secret is never shown."""

    supplier_id: str
    name: str
    protocol: str
    base_url: str
    polling: bool
    requests_per_second: float | None
    timeout_seconds: float | None
    x12: TradingPartnerIn | None
    active: bool
    give_up_attempts: int | None = Field(description="null: the gateway's DISPATCH_GIVE_UP_ATTEMPTS")
    give_up_seconds: float | None = Field(description="null: the gateway's DISPATCH_GIVE_UP_SECONDS")

    @classmethod
    def of(cls, supplier: Supplier) -> SupplierOut:
        partner = supplier.x12_partner
        return cls(
            supplier_id=supplier.supplier_id,
            name=supplier.name,
            protocol=supplier.protocol.value,
            base_url=supplier.base_url,
            polling=supplier.polling,
            requests_per_second=supplier.requests_per_second,
            timeout_seconds=supplier.timeout_seconds,
            x12=TradingPartnerIn.of(partner) if partner else None,
            active=supplier.active,
            give_up_attempts=supplier.give_up_attempts,
            give_up_seconds=supplier.give_up_seconds,
        )


class PurchaseOrderLineOut(BaseModel):
    line_no: int
    backorder_line_id: str | None
    sku: str
    supplier_sku: str
    quantity: int
    unit_cost: PlainMoney
    ship_to: Address
    customer_ref: str
    status: str
    accepted_qty: int
    rejected_qty: int
    shipped_qty: int
    cancelled_qty: int
    open_qty: int
    expected_ship_date: date | None
    reason: str | None


class StateChangeOut(BaseModel):
    state: str
    at: datetime
    note: str | None


class DispatchOut(BaseModel):
    send_attempts: int
    next_attempt_at: datetime | None
    last_error: str | None


class PurchaseOrderOut(BaseModel):
    po_number: str
    supplier_id: str
    state: str
    acknowledgement: str | None
    supplier_order_id: str | None
    failure_reason: str | None
    currency: str
    release_reason: str
    below_minimum: bool
    created_at: datetime
    lines: list[PurchaseOrderLineOut]
    shipment_ids: list[str]
    history: list[StateChangeOut]
    dispatch: DispatchOut | None = None

    @classmethod
    def of(cls, po: PurchaseOrder, dispatch: DispatchStatus | None = None) -> PurchaseOrderOut:
        return cls(
            po_number=po.po_number,
            supplier_id=po.supplier_id,
            state=po.state.value,
            acknowledgement=po.acknowledgement,
            supplier_order_id=po.supplier_order_id,
            failure_reason=po.failure_reason,
            currency=po.currency,
            release_reason=po.release_reason,
            below_minimum=po.below_minimum,
            created_at=po.created_at,
            lines=[
                PurchaseOrderLineOut(
                    line_no=line.line_no,
                    backorder_line_id=line.backorder_line_id,
                    sku=line.sku,
                    supplier_sku=line.supplier_sku,
                    quantity=line.quantity,
                    unit_cost=line.unit_cost,
                    ship_to=line.ship_to,
                    customer_ref=line.customer_ref,
                    status=line.status.value,
                    accepted_qty=line.accepted_qty,
                    rejected_qty=line.rejected_qty,
                    shipped_qty=line.shipped_qty,
                    cancelled_qty=line.cancelled_qty,
                    open_qty=line.open_qty,
                    expected_ship_date=line.expected_ship_date,
                    reason=line.reason,
                )
                for line in po.lines
            ],
            shipment_ids=sorted(po.shipment_ids),
            history=[StateChangeOut(state=c.state.value, at=c.at, note=c.note) for c in po.history],
            dispatch=DispatchOut(
                send_attempts=dispatch.send_attempts,
                next_attempt_at=dispatch.next_attempt_at,
                last_error=dispatch.last_error,
            )
            if dispatch
            else None,
        )


class CallbackAccepted(BaseModel):
    status: Literal["applied", "partially_applied", "duplicate"]
    event_id: str
    po_number: str
    not_applied: list[str] = []  # the parts left out (each filed in the exceptions inbox)


class OperatorReason(StrictBody):
    """Why an operator fails or cancels a purchase order."""

    reason: str = Field(
        min_length=1, max_length=300, pattern=NO_NUL, description="told to the customers, in plain words"
    )


class ExceptionResolution(StrictBody):
    note: str = Field(min_length=1, max_length=1000, description="what was decided, for the audit trail")
    replay: bool = Field(
        default=False, description="a dead letter: publish its message again first (409 if it left the queue)"
    )


class SupplierExceptionOut(BaseModel):
    exception_id: str
    kind: str
    supplier_id: str | None
    po_number: str | None
    line_no: int | None
    backorder_line_id: str | None
    order_id: str | None
    detail: str
    received: str | None
    opened_at: datetime
    resolved_at: datetime | None
    resolution_note: str | None
    queue: str | None = Field(description="a dead letter: the consuming queue (the message is in `<queue>.dlq`)")
    routing_key: str | None = Field(description="a dead letter: the event type it was published under")
    message_id: str | None = Field(description="a dead letter: the event id it is replayed by")

    @classmethod
    def of(cls, found: SupplierException) -> SupplierExceptionOut:
        source = found.dead_letter
        return cls(
            exception_id=found.exception_id,
            kind=found.kind.value,
            supplier_id=found.supplier_id,
            po_number=found.po_number,
            line_no=found.line_no,
            backorder_line_id=found.backorder_line_id,
            order_id=found.order_id,
            detail=found.detail,
            received=found.received,
            opened_at=found.opened_at,
            resolved_at=found.resolved_at,
            resolution_note=found.resolution_note,
            queue=source.queue if source else None,
            routing_key=source.routing_key if source else None,
            message_id=source.message_id if source else None,
        )
