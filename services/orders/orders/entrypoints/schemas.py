"""The orders API's request and response bodies."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, Field

from dropship_shared.events import Address
from dropship_shared.inputs import IDENTIFIER, NO_NUL, Amount, PlainMoney, StrictBody
from orders.domain.lifecycle import Transition
from orders.domain.model import Order, OrderLine, Product, ProductOffer
from orders.domain.promise import Promise
from orders.entrypoints.customer_email import EmailAddress

MAX_LINES = 200
MAX_QUANTITY = 10_000


class ProductIn(StrictBody):
    sku: str = Field(min_length=1, max_length=64, pattern=IDENTIFIER)
    name: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    supplier_id: str = Field(min_length=1, max_length=64, pattern=IDENTIFIER)
    supplier_sku: str = Field(min_length=1, max_length=64, pattern=NO_NUL)
    price: Amount
    cost: Amount
    on_hand: int = Field(ge=0, le=10_000_000)
    lead_time_days: int = Field(default=7, ge=0, le=365)

    def to_domain(self) -> Product:
        return Product(**self.model_dump())


class ProductOut(ProductIn):
    price: PlainMoney
    cost: PlainMoney

    @classmethod
    def of(cls, product: Product) -> ProductOut:
        return cls.model_validate(product, from_attributes=True)


class OfferIn(StrictBody):
    """One supplier's offer of a product (the supplier and the product are in the path)."""

    supplier_sku: str = Field(min_length=1, max_length=64, pattern=NO_NUL)
    unit_cost: Amount
    lead_time_days: int = Field(ge=0, le=365, description="the supplier's days from purchase order to shipping")
    priority: int = Field(default=0, ge=0, le=1000, description="the merchant's preference: lower first")
    active: bool = True

    def to_domain(self, sku: str, supplier_id: str) -> ProductOffer:
        return ProductOffer(sku, supplier_id, **self.model_dump())


class OfferOut(BaseModel):
    sku: str
    supplier_id: str
    supplier_sku: str
    unit_cost: PlainMoney
    lead_time_days: int
    priority: int
    active: bool

    @classmethod
    def of(cls, offer: ProductOffer) -> OfferOut:
        return cls.model_validate(offer, from_attributes=True)


class OrderLineIn(StrictBody):
    sku: str = Field(min_length=1, max_length=64, pattern=NO_NUL)
    quantity: int = Field(gt=0, le=MAX_QUANTITY)


class OrderIn(StrictBody):
    customer_email: EmailAddress
    ship_to: Address
    lines: list[OrderLineIn] = Field(min_length=1, max_length=MAX_LINES)


Answer = TypeVar("Answer", bound=BaseModel)


def built_from_domain(model: type[Answer], **values: Any) -> Answer:
    """`model` holding `values` as they are, without validating them: for the answers built field by field from the
    domain, whose values already have the fields' types (a test holds them equal to the validated models over
    generated orders). Validation was about a third of `POST /orders`' answer. Set up as pydantic's own
    `model_construct` does (tests/unit/orders/test_order_answer.py compares the two), without its Python pass over
    the fields for defaults and aliases: every field is given."""
    answer = model.__new__(model)
    object.__setattr__(answer, "__dict__", values)
    object.__setattr__(answer, "__pydantic_fields_set__", set(values))
    object.__setattr__(answer, "__pydantic_extra__", None)
    object.__setattr__(answer, "__pydantic_private__", None)
    return answer


class ShipmentOut(BaseModel):
    shipment_id: str
    quantity: int
    carrier: str
    tracking_number: str
    tracking_url: str | None
    shipped_at: datetime


class OrderLineOut(BaseModel):
    line_no: int
    backorder_line_id: str
    sku: str
    quantity: int
    unit_price: PlainMoney
    allocated_qty: int
    backordered_qty: int
    shipped_qty: int
    status: str
    supplier_id: str | None
    po_number: str | None
    shipments: list[ShipmentOut]
    open_qty: int
    cancelled_qty: int
    rejected_qty: int
    status_reason: str | None
    promised_date: date | None
    first_promised_date: date | None
    delivered_at: datetime | None
    consolation_credit: PlainMoney | None
    routing: dict[str, Any] | None = Field(
        description="the latest routing decision: the offer chosen, why, and every offer weighed with its numbers"
    )
    tried_suppliers: list[str] = Field(description="the suppliers the line was sent to, each once")
    awaits_operator: bool = Field(description="refused by its supplier, it waits for an operator's decision")

    @classmethod
    def of(cls, order_id: str, line: OrderLine) -> OrderLineOut:
        return built_from_domain(
            cls,
            line_no=line.line_no,
            backorder_line_id=line.backorder_line_id(order_id),
            sku=line.sku,
            quantity=line.quantity,
            unit_price=line.unit_price,
            allocated_qty=line.allocated_qty,
            backordered_qty=line.backordered_qty,
            shipped_qty=line.shipped_qty,
            status=line.status.value,
            supplier_id=line.supplier_id,
            po_number=line.po_number,
            shipments=[ShipmentOut.model_validate(s, from_attributes=True) for s in line.shipments],
            open_qty=line.open_qty,
            cancelled_qty=line.cancelled_qty,
            rejected_qty=line.rejected_qty,
            status_reason=line.status_reason,
            promised_date=line.promised_date,
            first_promised_date=line.first_promised_date,
            delivered_at=line.delivered_at,
            consolation_credit=line.credit,
            routing=line.routing,
            tried_suppliers=line.tried_suppliers,
            awaits_operator=line.awaits_operator,
        )


class OrderOut(BaseModel):
    order_id: str
    status: str
    customer_email: str
    ship_to: Address
    placed_at: datetime
    currency: str
    total: PlainMoney
    lines: list[OrderLineOut]

    @classmethod
    def of(cls, order: Order) -> OrderOut:
        return built_from_domain(
            cls,
            order_id=order.order_id,
            status=order.status,
            customer_email=order.customer_email,
            ship_to=order.ship_to,
            placed_at=order.placed_at,
            currency=order.currency,
            total=order.total,
            lines=[OrderLineOut.of(order.order_id, line) for line in order.lines],
        )


class TransitionOut(BaseModel):
    from_status: str | None
    to_status: str
    at: datetime
    cause: str
    event_id: str | None

    @classmethod
    def of(cls, transition: Transition) -> TransitionOut:
        return cls(
            from_status=transition.from_status.value if transition.from_status else None,
            to_status=transition.to_status.value,
            at=transition.at,
            cause=transition.cause,
            event_id=transition.event_id,
        )


class PromiseOut(BaseModel):
    promised_date: date
    at: datetime
    cause: str
    event_id: str | None

    @classmethod
    def of(cls, promise: Promise) -> PromiseOut:
        return cls(promised_date=promise.promised_date, at=promise.at, cause=promise.cause, event_id=promise.event_id)


class LineHistoryOut(BaseModel):
    line_no: int
    status: str
    transitions: list[TransitionOut]
    promises: list[PromiseOut]


class OrderHistoryOut(BaseModel):
    order_id: str
    status: str
    lines: list[LineHistoryOut]

    @classmethod
    def of(cls, order: Order) -> OrderHistoryOut:
        return cls(
            order_id=order.order_id,
            status=order.status,
            lines=[
                LineHistoryOut(
                    line_no=line.line_no,
                    status=line.status.value,
                    transitions=[TransitionOut.of(t) for t in line.history],
                    promises=[PromiseOut.of(p) for p in line.promises],
                )
                for line in order.lines
            ],
        )


class PaymentsOut(BaseModel):
    order_id: str
    currency: str
    authorized: PlainMoney
    captured: PlainMoney
    released: PlainMoney
    outstanding: PlainMoney
    reconciled: bool


class MessageOut(BaseModel):
    message_key: str
    channel: str
    kind: str
    line_no: int | None
    recipient: str
    subject: str
    body: str
    created_at: datetime
    attempts: int
    sent_at: datetime | None
    last_error: str | None


class DeliveryIn(StrictBody):
    source: str = Field(default="customer", pattern=r"^(customer|carrier|operator)$")


class AvailabilityOut(BaseModel):
    sku: str
    on_hand: int
    in_stock: bool
    supplier_id: str
    expected_in_stock_date: date | None
    expected_delivery_date: date
    incoming_qty: int


class ReceiptIn(StrictBody):
    quantity: int = Field(gt=0, le=MAX_QUANTITY)
    po_number: str | None = Field(
        default=None, max_length=32, pattern=NO_NUL, description="the PO the units came on (its incoming units)"
    )


class ReceiptOut(BaseModel):
    sku: str
    received: int = Field(description="0 when the Idempotency-Key received this stock before")
    duplicate: bool
    on_hand: int = Field(description="stock left for new orders")
    served: list[str] = Field(description="backorder lines served from the warehouse now")
    withdrawals_requested: list[str] = Field(
        description="lines waiting in a supplier batch, asked out of it; served when the aggregator confirms"
    )


class BackorderFiguresOut(BaseModel):
    group: str
    ordered_units: int
    backordered_units: int
    backordered_lines: int
    backorder_rate: float
    open_backorders: int
    open_units: int
    open_by_age: dict[str, int]
    fill_time_hours_p50: float | None
    fill_time_hours_p90: float | None
    filled_lines: int
    slipped_promises: int = Field(description="lines whose promise ever moved later than the first one")
    slip_days_p50: float | None = Field(description="days slipped (latest promise - first), over slipped lines")
    slip_days_p90: float | None
    credits_issued: int = Field(description="consolation credits issued")
    credits_amount: PlainMoney
    cancelled_while_waiting: int


class BackorderMetricsOut(BaseModel):
    start: datetime
    end: datetime
    group_by: str
    groups: list[BackorderFiguresOut]
