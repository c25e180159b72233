"""The customer's order, its lines and the catalog products they draw stock from: pure rules, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from dropship_shared.events import Address, BackorderCancelled, BackorderCreated, Payload


class OrderError(Exception):
    """A business rule refused the request (the API turns it into a 4xx)."""


class UnknownSku(OrderError):
    def __init__(self, skus: list[str]) -> None:
        super().__init__(f"unknown SKU(s): {', '.join(skus)}")
        self.skus = skus


class LineStatus(StrEnum):
    ALLOCATED = "allocated"  # served from local stock
    BACKORDERED = "backordered"  # waiting in a supplier batch
    ON_PURCHASE_ORDER = "on_purchase_order"
    SHIPPED = "shipped"
    PARTIALLY_SHIPPED = "partially_shipped"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


@dataclass
class Product:
    sku: str
    name: str
    supplier_id: str
    supplier_sku: str
    price: Decimal
    cost: Decimal
    on_hand: int

    def take(self, wanted: int) -> int:
        """Take what stock there is, up to `wanted`; never below zero (no overselling)."""
        taken = min(self.on_hand, wanted)
        self.on_hand -= taken
        return taken


@dataclass
class Shipment:
    shipment_id: str
    quantity: int
    carrier: str
    tracking_number: str
    tracking_url: str | None
    shipped_at: datetime


@dataclass
class OrderLine:
    line_no: int
    sku: str
    quantity: int
    unit_price: Decimal
    allocated_qty: int
    backordered_qty: int
    status: LineStatus
    supplier_id: str | None = None
    po_number: str | None = None
    shipments: list[Shipment] = field(default_factory=list)

    @property
    def shipped_qty(self) -> int:
        return sum(shipment.quantity for shipment in self.shipments)

    def backorder_line_id(self, order_id: str) -> str:
        return f"{order_id}-{self.line_no}"


@dataclass(frozen=True)
class RequestedLine:
    sku: str
    quantity: int


@dataclass
class Order:
    order_id: str
    customer_email: str
    ship_to: Address
    placed_at: datetime
    lines: list[OrderLine]
    events: list[Payload] = field(default_factory=list)

    @classmethod
    def place(
        cls,
        order_id: str,
        customer_email: str,
        ship_to: Address,
        requested: list[RequestedLine],
        products: dict[str, Product],
        placed_at: datetime,
    ) -> Order:
        """Serve each line from stock as far as it goes; every shortfall becomes a backorder event."""
        unknown = sorted({line.sku for line in requested if line.sku not in products})
        if unknown:
            raise UnknownSku(unknown)
        order = cls(order_id, customer_email, ship_to, placed_at, [])
        for line_no, wanted in enumerate(requested, start=1):
            product = products[wanted.sku]
            allocated = product.take(wanted.quantity)
            short = wanted.quantity - allocated
            line = OrderLine(
                line_no=line_no,
                sku=wanted.sku,
                quantity=wanted.quantity,
                unit_price=product.price,
                allocated_qty=allocated,
                backordered_qty=short,
                status=LineStatus.BACKORDERED if short else LineStatus.ALLOCATED,
                supplier_id=product.supplier_id if short else None,
            )
            order.lines.append(line)
            if short:
                order.events.append(
                    BackorderCreated(
                        backorder_line_id=line.backorder_line_id(order_id),
                        order_id=order_id,
                        line_no=line_no,
                        sku=product.sku,
                        supplier_id=product.supplier_id,
                        supplier_sku=product.supplier_sku,
                        quantity=short,
                        unit_cost=product.cost,
                        ship_to=ship_to,
                        customer_ref=f"{order_id}/{line_no}",
                        ordered_at=placed_at,
                    )
                )
        return order

    @property
    def status(self) -> str:
        """The order's status derives from its lines."""
        statuses = {line.status for line in self.lines}
        if statuses <= {LineStatus.CANCELLED, LineStatus.REJECTED}:
            return "cancelled"
        open_statuses = statuses - {LineStatus.CANCELLED, LineStatus.REJECTED}
        if open_statuses <= {LineStatus.ALLOCATED, LineStatus.SHIPPED}:
            return "fulfilled"
        if open_statuses & {LineStatus.SHIPPED, LineStatus.PARTIALLY_SHIPPED}:
            return "partially_shipped"
        return "awaiting_supplier"

    def line(self, line_no: int) -> OrderLine:
        for line in self.lines:
            if line.line_no == line_no:
                return line
        raise OrderError(f"order {self.order_id} has no line {line_no}")

    def cancel_line(self, line_no: int) -> None:
        """Cancel a backordered line before it is on a purchase order; repeating it changes nothing."""
        line = self.line(line_no)
        if line.status == LineStatus.CANCELLED:
            return
        if line.status != LineStatus.BACKORDERED:
            raise OrderError(
                f"line {line_no} is {line.status.value}; only a line still waiting for its batch cancels at once"
            )
        line.status = LineStatus.CANCELLED
        self.events.append(
            BackorderCancelled(
                backorder_line_id=line.backorder_line_id(self.order_id), supplier_id=line.supplier_id or ""
            )
        )

    def mark_on_purchase_order(self, line_no: int, po_number: str) -> None:
        line = self.line(line_no)
        if line.status == LineStatus.BACKORDERED:
            line.status = LineStatus.ON_PURCHASE_ORDER
            line.po_number = po_number

    def record_shipment(self, line_no: int, shipment: Shipment) -> bool:
        """Apply a shipment to a line once (by shipment id); False when it was already applied."""
        line = self.line(line_no)
        if any(existing.shipment_id == shipment.shipment_id for existing in line.shipments):
            return False
        line.shipments.append(shipment)
        line.status = LineStatus.SHIPPED if line.shipped_qty >= line.backordered_qty else LineStatus.PARTIALLY_SHIPPED
        return True
