"""The customer's commands, one function each, each in one transaction."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from dropship_shared.events import Address, utcnow
from dropship_shared.inputs import MONEY_LIMIT
from orders.domain.effects import MovementKind
from orders.domain.model import Cause, Order, OrderError, Product, RequestedLine
from orders.domain.promise import PromiseRules
from orders.service_layer.ports import IdempotencyKeyTaken
from orders.service_layer.unit_of_work import OrdersUnitOfWork

UnitOfWorkFactory = Callable[[], OrdersUnitOfWork]
CATALOG_BATCH = 500


class OrderNotFound(OrderError):
    pass


class OrderTooLarge(OrderError):
    """The order's total does not fit an amount of money the ledger can hold."""


class IdempotencyKeyReused(OrderError):
    """The Idempotency-Key already placed an order with a different request."""


class IdempotencyKeyInProgress(OrderError):
    """Another request with the same Idempotency-Key has not finished yet: retry shortly."""


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
    """In transactions of CATALOG_BATCH products, so a big import never holds the database for long.

    Upserts repeat harmlessly: an import cut short is completed by sending it again."""
    for start in range(0, len(items), CATALOG_BATCH):
        async with uow_factory() as uow:
            for product in items[start : start + CATALOG_BATCH]:
                await uow.products.upsert(product)
            await uow.commit()


async def place_order(
    uow_factory: UnitOfWorkFactory, command: PlaceOrder, correlation_id: str, rules: PromiseRules | None = None
) -> PlacedOrder:
    """Places the order once per idempotency key: a repeat (even a concurrent one) gets the order placed first."""
    try:
        return await _place_new_order(uow_factory, command, correlation_id, rules)
    except IdempotencyKeyTaken as taken:
        async with uow_factory() as uow:
            existing = await uow.orders.get_by_idempotency_key(command.idempotency_key or "")
        if existing is None:
            raise IdempotencyKeyInProgress(
                f"an order with Idempotency-Key {command.idempotency_key!r} is being placed"
            ) from taken
        return PlacedOrder(_placed_by(command, existing), created=False)


def _placed_by(command: PlaceOrder, order: Order) -> Order:
    """The order, if `command` asks for what placed it; the key is refused for any other request."""
    same = (
        order.customer_email == command.customer_email
        and order.ship_to == command.ship_to
        and [(line.sku, line.quantity) for line in order.lines]
        == [(wanted.sku, wanted.quantity) for wanted in command.lines]
    )
    if not same:
        raise IdempotencyKeyReused(f"Idempotency-Key {command.idempotency_key!r} placed a different order")
    return order


async def _place_new_order(
    uow_factory: UnitOfWorkFactory, command: PlaceOrder, correlation_id: str, rules: PromiseRules | None
) -> PlacedOrder:
    async with uow_factory() as uow:
        uow.correlation_id = correlation_id
        if command.idempotency_key is not None:
            existing = await uow.orders.get_by_idempotency_key(command.idempotency_key)
            if existing is not None:
                return PlacedOrder(_placed_by(command, existing), created=False)
        stock = await uow.products.lock_for_allocation(line.sku for line in command.lines)
        estimates = await uow.release_estimates.for_suppliers(product.supplier_id for product in stock.values())
        order = Order.place(
            order_id=f"O{uuid.uuid4().hex[:12].upper()}",
            customer_email=command.customer_email,
            ship_to=command.ship_to,
            requested=command.lines,
            products=stock,
            placed_at=utcnow(),
            rules=rules,
            release_estimates=estimates,
        )
        if order.total >= MONEY_LIMIT:
            raise OrderTooLarge(f"the order total {order.total} is over {MONEY_LIMIT - 1}")
        await uow.products.save_stock(stock.values())
        await uow.orders.add(order, command.idempotency_key)
        # Nothing is taken yet: the whole order is authorized; captures follow the goods.
        await uow.payments.authorize(order.order_id, order.total, order.currency, f"{order.order_id}-authorization")
        await apply_consequences(uow, order)
        await uow.commit()
        return PlacedOrder(order, created=True)


async def apply_consequences(uow: OrdersUnitOfWork, order: Order) -> None:
    """Hand what the order's change asks for to the outside world, in the same transaction."""
    for event in order.events:
        uow.emit(event)
    for movement in order.movements:
        if movement.kind == MovementKind.REAUTHORIZE:
            await uow.payments.authorize(order.order_id, movement.amount, order.currency, movement.reference)
        elif movement.kind == MovementKind.CAPTURE:
            await uow.payments.capture(
                order.order_id, movement.line_no, movement.amount, order.currency, movement.reference
            )
        else:
            await uow.payments.release(
                order.order_id, movement.line_no, movement.amount, order.currency, movement.reference
            )
    now = utcnow()
    for message in order.messages:
        await uow.notifications.enqueue(message, order.customer_email, now)
    order.events.clear()
    order.movements.clear()
    order.messages.clear()
    order.credits.clear()


async def get_order(uow_factory: UnitOfWorkFactory, order_id: str) -> Order:
    async with uow_factory() as uow:
        order = await uow.orders.get(order_id)
    if order is None:
        raise OrderNotFound(f"order {order_id} not found")
    return order


async def _change_order(
    uow_factory: UnitOfWorkFactory, order_id: str, correlation_id: str, change: Callable[[Order], None]
) -> Order:
    async with uow_factory() as uow:
        uow.correlation_id = correlation_id
        order = await uow.orders.get(order_id, for_update=True)
        if order is None:
            raise OrderNotFound(f"order {order_id} not found")
        change(order)
        await uow.orders.save(order)
        await apply_consequences(uow, order)
        await uow.commit()
        return order


async def cancel_line(uow_factory: UnitOfWorkFactory, order_id: str, line_no: int, correlation_id: str) -> Order:
    cause = Cause(utcnow(), "customer_cancel")
    return await _change_order(uow_factory, order_id, correlation_id, lambda order: order.cancel_line(line_no, cause))


async def cancel_order(uow_factory: UnitOfWorkFactory, order_id: str, correlation_id: str) -> Order:
    cause = Cause(utcnow(), "customer_cancel_order")
    return await _change_order(uow_factory, order_id, correlation_id, lambda order: order.cancel(cause))


async def confirm_delivery(
    uow_factory: UnitOfWorkFactory, order_id: str, line_no: int, source: str, correlation_id: str
) -> Order:
    cause = Cause(utcnow(), f"delivered:{source}")
    return await _change_order(
        uow_factory, order_id, correlation_id, lambda order: order.confirm_delivery(line_no, cause)
    )
