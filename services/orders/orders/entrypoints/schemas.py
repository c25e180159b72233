"""The orders API's request and response bodies."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from dropship_shared.events import Address
from orders.domain.model import Order, Product

MAX_LINES = 200
MAX_QUANTITY = 10_000


class StrictBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProductIn(StrictBody):
    sku: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    name: str = Field(min_length=1, max_length=200)
    supplier_id: str = Field(min_length=1, max_length=64)
    supplier_sku: str = Field(min_length=1, max_length=64)
    price: Decimal = Field(ge=0, max_digits=14, decimal_places=4)
    cost: Decimal = Field(ge=0, max_digits=14, decimal_places=4)
    on_hand: int = Field(ge=0, le=10_000_000)

    def to_domain(self) -> Product:
        return Product(**self.model_dump())


class ProductOut(ProductIn):
    @classmethod
    def of(cls, product: Product) -> ProductOut:
        return cls.model_validate(product, from_attributes=True)


class OrderLineIn(StrictBody):
    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(gt=0, le=MAX_QUANTITY)


class OrderIn(StrictBody):
    customer_email: EmailStr
    ship_to: Address
    lines: list[OrderLineIn] = Field(min_length=1, max_length=MAX_LINES)


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
    unit_price: Decimal
    allocated_qty: int
    backordered_qty: int
    shipped_qty: int
    status: str
    supplier_id: str | None
    po_number: str | None
    shipments: list[ShipmentOut]


class OrderOut(BaseModel):
    order_id: str
    status: str
    customer_email: str
    ship_to: Address
    placed_at: datetime
    lines: list[OrderLineOut]

    @classmethod
    def of(cls, order: Order) -> OrderOut:
        return cls(
            order_id=order.order_id,
            status=order.status,
            customer_email=order.customer_email,
            ship_to=order.ship_to,
            placed_at=order.placed_at,
            lines=[
                OrderLineOut(
                    line_no=line.line_no,
                    backorder_line_id=line.backorder_line_id(order.order_id),
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
                )
                for line in order.lines
            ],
        )
