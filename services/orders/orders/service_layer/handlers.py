"""One function per command and per incoming event, each in one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from dropship_shared.events import (
    Address,
    Envelope,
    PurchaseOrderRequested,
    ShipmentUpdated,
    utcnow,
)
from orders.domain.model import Order, OrderError, Product, RequestedLine, Shipment
from orders.service_layer.unit_of_work import OrdersUnitOfWork

UnitOfWorkFactory = Callable[[], OrdersUnitOfWork]
CONSUMER = "orders"


class OrderNotFound(OrderError):
    pass


@dataclass(frozen=True)
class PlaceOrder:
    customer_email: str
    ship_to: Address
    lines: list[RequestedLine]
    idempotency_key: str | None = None


@dataclass(frozen=True)
class PlacedOrder:
    order: Order
    created: bool  # False when the idempotency key named an order placed before


async def upsert_products(uow_factory: UnitOfWorkFactory, items: list[Product]) -> None:
    async with uow_factory() as uow:
        for product in items:
            await uow.products.upsert(product)
        await uow.commit()


async def place_order(uow_factory: UnitOfWorkFactory, command: PlaceOrder, correlation_id: str) -> PlacedOrder:
    async with uow_factory() as uow:
        uow.correlation_id = correlation_id
        if command.idempotency_key:
            existing = await uow.orders.get_by_idempotency_key(command.idempotency_key)
            if existing is not None:
                return PlacedOrder(existing, created=False)
        stock = await uow.products.lock_for_allocation(line.sku for line in command.lines)
        order = Order.place(
            order_id=f"O{uuid.uuid4().hex[:12].upper()}",
            customer_email=command.customer_email,
            ship_to=command.ship_to,
            requested=command.lines,
            products=stock,
            placed_at=utcnow(),
        )
        await uow.products.save_stock(stock.values())
        await uow.orders.add(order, command.idempotency_key)
        for event in order.events:
            uow.emit(event)
        await uow.commit()
        return PlacedOrder(order, created=True)


async def get_order(uow_factory: UnitOfWorkFactory, order_id: str) -> Order:
    async with uow_factory() as uow:
        order = await uow.orders.get(order_id)
    if order is None:
        raise OrderNotFound(f"order {order_id} not found")
    return order


async def cancel_line(uow_factory: UnitOfWorkFactory, order_id: str, line_no: int, correlation_id: str) -> Order:
    async with uow_factory() as uow:
        uow.correlation_id = correlation_id
        order = await uow.orders.get(order_id, for_update=True)
        if order is None:
            raise OrderNotFound(f"order {order_id} not found")
        order.cancel_line(line_no)
        await uow.orders.save(order)
        for event in order.events:
            uow.emit(event)
        await uow.commit()
        return order


def _split_backorder_line_id(backorder_line_id: str) -> tuple[str, int]:
    order_id, _, line_no = backorder_line_id.rpartition("-")
    return order_id, int(line_no)


async def on_purchase_order_requested(uow_factory: UnitOfWorkFactory, envelope: Envelope) -> None:
    payload = envelope.payload_as(PurchaseOrderRequested)
    async with uow_factory() as uow:
        if not await uow.claim_event(CONSUMER, envelope):
            return
        for po_line in payload.lines:
            if po_line.backorder_line_id is None:
                continue
            order_id, line_no = _split_backorder_line_id(po_line.backorder_line_id)
            order = await uow.orders.get(order_id, for_update=True)
            if order is None:
                continue
            order.mark_on_purchase_order(line_no, payload.po_number)
            await uow.orders.save(order)
        await uow.commit()


async def on_shipment_updated(uow_factory: UnitOfWorkFactory, envelope: Envelope) -> None:
    payload = envelope.payload_as(ShipmentUpdated)
    async with uow_factory() as uow:
        if not await uow.claim_event(CONSUMER, envelope):
            return
        for shipped in payload.lines:
            if shipped.backorder_line_id is None:
                continue
            order_id, line_no = _split_backorder_line_id(shipped.backorder_line_id)
            order = await uow.orders.get(order_id, for_update=True)
            if order is None:
                continue
            applied = order.record_shipment(
                line_no,
                Shipment(
                    shipment_id=payload.shipment_id,
                    quantity=shipped.quantity,
                    carrier=payload.carrier_name,
                    tracking_number=payload.tracking_number,
                    tracking_url=payload.tracking_url,
                    shipped_at=payload.shipped_at,
                ),
            )
            if applied:
                await uow.orders.save(order)
        await uow.commit()
