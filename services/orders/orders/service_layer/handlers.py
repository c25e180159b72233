"""The customer's commands, one function each, each in one transaction."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass

from dropship_shared.events import Address, utcnow
from dropship_shared.inputs import MONEY_LIMIT
from dropship_shared.unit_of_work import UnitOfWorkFactory
from orders.domain.effects import MoneyMovement, MovementKind
from orders.domain.model import Cause, Order, OrderError, Product, ProductOffer, RequestedLine
from orders.domain.promise import PromiseRules, ReleaseEstimate
from orders.domain.routing import BatchOutlook
from orders.domain.sourcing import Sourcing
from orders.service_layer.ports import IdempotencyKeyTaken, PaymentCall, PaymentKind
from orders.service_layer.unit_of_work import OrdersUnitOfWork

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


async def upsert_products(uow_factory: UnitOfWorkFactory[OrdersUnitOfWork], items: list[Product]) -> None:
    """In transactions of CATALOG_BATCH products, so a big import never holds the database for long.

    Upserts repeat harmlessly: an import cut short is completed by sending it again."""
    for start in range(0, len(items), CATALOG_BATCH):
        async with uow_factory() as uow:
            for product in items[start : start + CATALOG_BATCH]:
                await uow.products.upsert(product)
            await uow.commit()


async def place_order(
    uow_factory: UnitOfWorkFactory[OrdersUnitOfWork],
    command: PlaceOrder,
    correlation_id: str,
    rules: PromiseRules | None = None,
) -> PlacedOrder:
    """Places the order once per idempotency key: a repeat (even a concurrent one) gets the order placed first.

    In a transaction of its own; the API places concurrent orders together (`intake.OrderIntake`)."""

    async def alone() -> PlacedOrder:
        (outcome,) = await place_orders(uow_factory, [(command, correlation_id)], rules)
        if isinstance(outcome, OrderError):
            raise outcome
        return outcome

    return await placed_once(uow_factory, command, alone)


async def placed_once(
    uow_factory: UnitOfWorkFactory[OrdersUnitOfWork], command: PlaceOrder, place: Callable[[], Awaitable[PlacedOrder]]
) -> PlacedOrder:
    """`place`, or, when a concurrent request stored the same idempotency key first, the order it placed."""
    try:
        return await place()
    except IdempotencyKeyTaken as taken:
        key = command.idempotency_key or ""
        async with uow_factory() as uow:
            existing = (await uow.orders.by_idempotency_keys([key])).get(key)
        if existing is None:
            raise IdempotencyKeyInProgress(f"an order with Idempotency-Key {key!r} is being placed") from taken
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


async def place_orders(
    uow_factory: UnitOfWorkFactory[OrdersUnitOfWork],
    requests: list[tuple[PlaceOrder, str]],
    rules: PromiseRules | None = None,
) -> list[PlacedOrder | OrderError]:
    """Place orders (each with its correlation id) in one transaction, each as if placed alone in turn.

    An order refused for its own content (unknown SKU, too large, its key placed another order) gets its
    error and takes nothing; the others are written with one statement per table, nothing read back.
    The stock of all their products is locked at once (sorted SKUs, so concurrent batches cannot deadlock)
    and each order takes from what the ones before it left. A database failure fails the whole batch."""
    async with uow_factory() as uow:
        keys = [command.idempotency_key for command, _ in requests if command.idempotency_key is not None]
        known = await uow.orders.by_idempotency_keys(keys)
        skus = [line.sku for command, _ in requests for line in command.lines]
        read = await uow.products.for_allocation(skus)
        stock = read.products
        # Routing only for the products some order of the batch may backorder (not enough in stock for all).
        wanted: dict[str, int] = defaultdict(int)
        for line in (line for command, _ in requests for line in command.lines):
            wanted[line.sku] += line.quantity
        short = {sku for sku, units in wanted.items() if sku in stock and stock[sku].on_hand < units}
        sourcing = sourcing_of(uow, {sku: offers for sku, offers in read.offers.items() if sku in short}, read.outlooks)
        outcomes: list[PlacedOrder | OrderError] = []
        new: list[tuple[Order, str | None]] = []
        for command, correlation_id in requests:
            try:
                placed = _place(command, known, stock, read.estimates, rules, sourcing)
            except OrderError as refused:
                outcomes.append(refused)
                continue
            outcomes.append(placed)
            if placed.created:
                new.append((placed.order, command.idempotency_key))
                uow.collect_caused_by(correlation_id, placed.order)  # its events under its own request's id
        if new:
            await uow.products.save_stock(stock.values())
            await uow.orders.add(new)
            # Nothing is taken yet: each whole order is authorized; captures follow the goods.
            authorizations = [
                PaymentCall(
                    PaymentKind.AUTHORIZATION,
                    order.order_id,
                    None,
                    order.total,
                    order.currency,
                    f"{order.order_id}-authorization",
                )
                for order, _ in new
            ]
            await apply_consequences(uow, *(order for order, _ in new), payments_first=authorizations)
            await uow.commit()
        return outcomes


def _place(
    command: PlaceOrder,
    known: dict[str, Order],
    stock: dict[str, Product],
    estimates: dict[str, ReleaseEstimate],
    rules: PromiseRules | None,
    sourcing: Sourcing,
) -> PlacedOrder:
    """One order of a batch, in memory: `known` (orders by idempotency key) and `stock` carry what the
    orders before it in the batch did."""
    key = command.idempotency_key
    if key is not None and key in known:
        return PlacedOrder(_placed_by(command, known[key]), created=False)
    wanted = {line.sku for line in command.lines}
    on_hand = {sku: (product.on_hand, product.incoming_free) for sku, product in stock.items() if sku in wanted}
    order = Order.place(
        order_id=f"O{uuid.uuid4().hex[:12].upper()}",
        customer_email=command.customer_email,
        ship_to=command.ship_to,
        requested=command.lines,
        products=stock,
        placed_at=utcnow(),
        rules=rules,
        release_estimates=estimates,
        sourcing=sourcing,
    )
    if order.total >= MONEY_LIMIT:
        for sku, (units, incoming) in on_hand.items():
            stock[sku].on_hand, stock[sku].incoming_free = units, incoming  # a refused order takes nothing
        raise OrderTooLarge(f"the order total {order.total} is over {MONEY_LIMIT - 1}")
    if key is not None:
        known[key] = order  # a repeat of the key later in the batch gets this order
    return PlacedOrder(order, created=True)


async def load_sourcing(uow: OrdersUnitOfWork, skus: Iterable[str]) -> Sourcing:
    """What routing needs for these products: their active offers, where their suppliers' batches stand, and the
    merchant's setting (one statement)."""
    offers, outlooks = await uow.offers.for_routing(skus)
    return sourcing_of(uow, offers, outlooks)


def sourcing_of(
    uow: OrdersUnitOfWork, offers: dict[str, list[ProductOffer]], outlooks: dict[str, BatchOutlook]
) -> Sourcing:
    """Routing's view of these offers (by SKU, the preferred first) and batches, with the merchant's setting."""
    return Sourcing(
        {sku: [offer.for_routing() for offer in found] for sku, found in offers.items()},
        outlooks,
        uow.routing.policy,
        uow.routing.automatic,
    )


async def apply_consequences(
    uow: OrdersUnitOfWork, *changed: Order, payments_first: Sequence[PaymentCall] = ()
) -> None:
    """Hand what the orders' changes ask for to the outside world, in the same transaction: events (forwarded
    now rather than on commit, so each order's messages follow the trace of what changed it), then the money
    movements of all of them in one call (after `payments_first`, in the same call), then their customer messages
    in one statement."""
    uow.forward_events()
    calls = [*payments_first, *(_payment_call(order, movement) for order in changed for movement in order.movements)]
    if calls:
        await uow.payments.perform(calls)
    await uow.notifications.enqueue(
        [(message, order.customer_email) for order in changed for message in order.messages], utcnow()
    )
    for order in changed:
        order.movements.clear()
        order.messages.clear()
        order.credits.clear()


def _payment_call(order: Order, movement: MoneyMovement) -> PaymentCall:
    if movement.kind == MovementKind.REAUTHORIZE:
        kind, line_no = PaymentKind.AUTHORIZATION, None
    elif movement.kind == MovementKind.CAPTURE:
        kind, line_no = PaymentKind.CAPTURE, movement.line_no
    else:
        kind, line_no = PaymentKind.RELEASE, movement.line_no
    return PaymentCall(kind, order.order_id, line_no, movement.amount, order.currency, movement.reference)


async def get_order(uow_factory: UnitOfWorkFactory[OrdersUnitOfWork], order_id: str, history: bool = True) -> Order:
    """The order; without `history`, its lines' status transitions are left unread (GET /orders/{id} shows none)."""
    async with uow_factory() as uow:
        order = await (uow.orders.get(order_id) if history else uow.orders.read(order_id))
    if order is None:
        raise OrderNotFound(f"order {order_id} not found")
    return order


async def _change_order(
    uow_factory: UnitOfWorkFactory[OrdersUnitOfWork],
    order_id: str,
    correlation_id: str,
    change: Callable[[Order], None],
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


async def cancel_line(
    uow_factory: UnitOfWorkFactory[OrdersUnitOfWork], order_id: str, line_no: int, correlation_id: str
) -> Order:
    cause = Cause(utcnow(), "customer_cancel")
    return await _change_order(uow_factory, order_id, correlation_id, lambda order: order.cancel_line(line_no, cause))


async def cancel_order(uow_factory: UnitOfWorkFactory[OrdersUnitOfWork], order_id: str, correlation_id: str) -> Order:
    cause = Cause(utcnow(), "customer_cancel_order")
    return await _change_order(uow_factory, order_id, correlation_id, lambda order: order.cancel(cause))


async def confirm_delivery(
    uow_factory: UnitOfWorkFactory[OrdersUnitOfWork], order_id: str, line_no: int, source: str, correlation_id: str
) -> Order:
    cause = Cause(utcnow(), f"delivered:{source}")
    return await _change_order(
        uow_factory, order_id, correlation_id, lambda order: order.confirm_delivery(line_no, cause)
    )


async def reroute_line(
    uow_factory: UnitOfWorkFactory[OrdersUnitOfWork],
    order_id: str,
    line_no: int,
    correlation_id: str,
    rules: PromiseRules,
    supplier_id: str | None = None,
) -> Order:
    """An operator sends a line waiting for them to its next untried offer, or to `supplier_id`."""
    cause = Cause(utcnow(), "operator_reroute")
    async with uow_factory() as uow:
        uow.correlation_id = correlation_id
        order = await uow.orders.get(order_id, for_update=True)
        if order is None:
            raise OrderNotFound(f"order {order_id} not found")
        sourcing = await load_sourcing(uow, [order.line(line_no).sku])
        order.reroute_by_operator(line_no, sourcing, rules, cause, supplier_id)
        await uow.orders.save(order)
        await apply_consequences(uow, order)
        await uow.commit()
        return order


async def reject_line(
    uow_factory: UnitOfWorkFactory[OrdersUnitOfWork], order_id: str, line_no: int, reason: str, correlation_id: str
) -> Order:
    """An operator rejects a line waiting for them (no offer will do): its money released, the customer told."""
    cause = Cause(utcnow(), "operator_reject")
    return await _change_order(
        uow_factory, order_id, correlation_id, lambda order: order.reject_by_operator(line_no, reason, cause)
    )
