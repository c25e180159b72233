"""Group commit of POST /orders on both engines: concurrent orders share one transaction, each answered only
after it committed; an order refused for its own content fails alone; a batch the database (or the payment
provider) refuses is split and every other order still placed."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from decimal import Decimal

import pytest
from opentelemetry import trace
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dropship_shared.db import create_engine, session_factory
from dropship_shared.events import Address
from dropship_shared.migrations import upgrade_to_head
from dropship_shared.unit_of_work import HasEvents
from orders.adapters.ledger_payments import LedgerPaymentProvider
from orders.adapters.orm import inbox, notifications, orders, outbox
from orders.bootstrap import MIGRATIONS
from orders.domain.model import Product, RequestedLine, UnknownSku
from orders.service_layer import handlers
from orders.service_layer.intake import OrderIntake
from orders.service_layer.ports import PaymentCall
from orders.service_layer.unit_of_work import OrdersUnitOfWork
from support.tracing import traced

SHIP_TO = Address(name="Ann", address_lines=["1 Main St"], city="Springfield", postal_code="62701", country="US")
POISON_PRICE = Decimal("13")
HICCUP_PRICE = Decimal("17")
CATALOG = [
    Product("LAMP", "Lamp", "acme", "AC-L", Decimal("30"), Decimal("12.5"), on_hand=10),
    Product("SOFA", "Sofa", "acme", "AC-S", Decimal("900"), Decimal("400"), on_hand=0),
    Product("CURSED", "Cursed", "acme", "AC-X", POISON_PRICE, Decimal("1"), on_hand=0),
    Product("SHAKY", "Shaky", "acme", "AC-Y", HICCUP_PRICE, Decimal("1"), on_hand=0),
    Product("RUG", "Rug", "acme", "AC-R", Decimal("80"), Decimal("30"), on_hand=5),
]


class RefusingProvider(LedgerPaymentProvider):
    """A payment provider that fails any call of the poison amount (a failure of the batch's transaction), and
    meets a passing conflict (a busy database) the first time it sees the amount of a hiccup."""

    hiccup_met = False

    async def perform(self, calls: Sequence[PaymentCall]) -> None:
        if any(call.amount == POISON_PRICE for call in calls):
            raise RuntimeError("the provider refused the call")
        if any(call.amount == HICCUP_PRICE for call in calls) and not RefusingProvider.hiccup_met:
            RefusingProvider.hiccup_met = True
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        await super().perform(calls)


class Transactions:
    """Units of work that count the commits they make and the aggregates they forward events of."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self.commits = 0
        self.forwarded: Counter[str] = Counter()  # by order id: how many times its events were forwarded

    def __call__(self) -> OrdersUnitOfWork:
        counter = self

        class Counted(OrdersUnitOfWork):
            async def commit(self) -> None:
                await super().commit()
                counter.commits += 1

            def _forwarding(self, aggregate: HasEvents) -> None:
                counter.forwarded[getattr(aggregate, "order_id", "?")] += 1
                super()._forwarding(aggregate)

        return Counted(self.sessions, outbox, inbox, payments=RefusingProvider)


@pytest.fixture
async def transactions(database_url: str) -> AsyncIterator[Transactions]:
    await asyncio.to_thread(upgrade_to_head, str(MIGRATIONS), database_url)
    engine = create_engine(database_url)
    counted = Transactions(session_factory(engine))
    await handlers.upsert_products(counted, CATALOG)
    counted.commits = 0
    yield counted
    await engine.dispose()


def command(n: int, sku: str = "LAMP", quantity: int = 1, key: str | None = None) -> handlers.PlaceOrder:
    return handlers.PlaceOrder(f"c{n}@example.com", SHIP_TO, [RequestedLine(sku, quantity)], key)


async def stored_orders(factory: Transactions) -> int:
    async with factory() as unit:
        return int(await unit.session.scalar(select(func.count()).select_from(orders)) or 0)


async def outbox_rows(factory: Transactions) -> int:
    async with factory() as unit:
        return int(await unit.session.scalar(select(func.count()).select_from(outbox)) or 0)


async def test_orders_arriving_together_share_one_transaction_and_are_committed_when_answered(
    transactions: Transactions,
) -> None:
    intake = OrderIntake(transactions)

    async def buy(n: int) -> bool:
        placed = await intake.place(command(n), f"c{n}")
        async with transactions() as unit:  # answered: already committed, visible to anyone
            return await unit.orders.get(placed.order.order_id) is not None

    assert await asyncio.gather(*(buy(n) for n in range(30))) == [True] * 30
    assert transactions.commits == 1
    async with transactions() as unit:
        lamp = await unit.products.get("LAMP")
    assert lamp is not None and lamp.on_hand == 0  # ten served from stock, twenty backordered, none oversold
    assert await outbox_rows(transactions) == 20


async def test_an_order_refused_for_its_own_content_fails_alone(transactions: Transactions) -> None:
    intake = OrderIntake(transactions)
    first = await intake.place(command(0, "SOFA", key="k-placed"), "c")
    requests = [
        command(1, "NOSUCH"),  # unknown SKU
        command(2, "LAMP", quantity=10**13),  # over what the ledger holds: takes no stock
        command(0, "SOFA", key="k-placed"),  # a repeat: the order placed before
        command(3, "SOFA", quantity=2, key="k-placed"),  # the key with another order: refused
        command(4, "SOFA", key="k-new"),
        command(4, "SOFA", key="k-new"),  # the same key twice in one batch: one order
        command(5, "SOFA", quantity=3, key="k-new"),  # and the key reused in that batch: refused
        command(6, "LAMP", quantity=4),
    ]
    transactions.commits = 0
    outcomes = await asyncio.gather(*(intake.place(c, "c") for c in requests), return_exceptions=True)
    assert transactions.commits == 1
    assert isinstance(outcomes[0], UnknownSku)
    assert isinstance(outcomes[1], handlers.OrderTooLarge)
    repeat, reused, created, again, reused_new, lamps = outcomes[2:]
    assert isinstance(repeat, handlers.PlacedOrder) and not repeat.created
    assert repeat.order.order_id == first.order.order_id
    assert isinstance(reused, handlers.IdempotencyKeyReused)
    assert isinstance(created, handlers.PlacedOrder) and created.created
    assert isinstance(again, handlers.PlacedOrder) and not again.created
    assert again.order.order_id == created.order.order_id
    assert isinstance(reused_new, handlers.IdempotencyKeyReused)
    assert isinstance(lamps, handlers.PlacedOrder) and lamps.order.lines[0].allocated_qty == 4
    assert await stored_orders(transactions) == 3
    async with transactions() as unit:
        lamp = await unit.products.get("LAMP")
    assert lamp is not None and lamp.on_hand == 6


@contextmanager
def statements_run(transactions: Transactions) -> Iterator[list[str]]:
    """The first three words of each statement run meanwhile."""
    statements: list[str] = []

    def executed(_connection: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(" ".join(statement.split()[:3]))

    engine = transactions.sessions.kw["bind"].sync_engine
    event.listen(engine, "before_cursor_execute", executed)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", executed)


async def test_a_batch_of_backorders_reads_in_one_statement_and_writes_one_per_table(
    transactions: Transactions,
) -> None:
    intake = OrderIntake(transactions)
    with statements_run(transactions) as statements:
        placed = await asyncio.gather(*(intake.place(command(n, "SOFA"), f"c{n}") for n in range(5)))
    assert transactions.commits == 1 and all(p.order.lines[0].backordered_qty == 1 for p in placed)
    # the products with what is incoming, their suppliers' estimates, their offers and those batches' standing
    assert len([statement for statement in statements if statement.startswith("SELECT")]) == 1
    assert Counter(statement for statement in statements if statement.startswith("INSERT")) == {
        f"INSERT INTO {table}": 1
        for table in (
            "orders",
            "order_lines",
            "line_transitions",
            "line_promises",
            "payment_ledger",
            "notifications",
            "outbox",
        )
    }


async def test_batches_read_their_products_with_the_same_statement_object(transactions: Transactions) -> None:
    """A statement built per batch costs SQLAlchemy a new cache key (a walk over its columns and joins) each time."""
    intake = OrderIntake(transactions)
    executed: list[object] = []

    def seen(_conn: object, statement: object, *_args: object) -> None:
        if getattr(statement, "is_select", False):
            executed.append(statement)

    engine = transactions.sessions.kw["bind"].sync_engine
    event.listen(engine, "before_execute", seen)
    try:
        for batch in range(2):
            await asyncio.gather(*(intake.place(command(n, "SOFA"), f"c{batch}-{n}") for n in range(3)))
    finally:
        event.remove(engine, "before_execute", seen)
    assert len(executed) == 2 and executed[0] is executed[1]


async def test_each_order_of_a_batch_is_forwarded_under_its_own_id_without_walking_the_others_again(
    transactions: Transactions,
) -> None:
    """Each new order's events are forwarded at its turn under its request's correlation id; the orders placed
    before it in the batch are not walked again for each order (a time quadratic in the batch's size)."""
    intake = OrderIntake(transactions)
    placed = await asyncio.gather(*(intake.place(command(n, "SOFA"), f"c{n}") for n in range(20)))
    assert transactions.commits == 1
    # at its turn, then by the forwarding before the consequences and by the commit (nothing left by then)
    assert transactions.forwarded == {p.order.order_id: 3 for p in placed}
    async with transactions.sessions() as session:
        rows = (await session.execute(select(outbox.c.correlation_id, outbox.c.body))).all()
    assert sorted(correlation_id for correlation_id, _ in rows) == sorted(f"c{n}" for n in range(20))
    for n, p in enumerate(placed):
        assert [c for c, body in rows if p.order.order_id in body] == [f"c{n}"]


async def test_a_batch_taking_stock_of_several_products_writes_their_stock_and_the_payments_once(
    transactions: Transactions,
) -> None:
    intake = OrderIntake(transactions)
    requests = [command(1, "LAMP", quantity=2), command(2, "RUG"), command(3, "LAMP")]
    with statements_run(transactions) as statements:
        placed = await asyncio.gather(*(intake.place(c, f"c{n}") for n, c in enumerate(requests)))
    assert transactions.commits == 1 and all(
        p.order.lines[0].allocated_qty == p.order.lines[0].quantity for p in placed
    )
    writes = Counter(statement for statement in statements if statement.startswith(("UPDATE", "INSERT INTO payment")))
    assert writes == {"UPDATE products SET": 1, "INSERT INTO payment_ledger": 1}
    async with transactions() as unit:
        assert [(await unit.products.get(sku)) for sku in ("LAMP", "RUG")] == [
            replace(CATALOG[0], on_hand=7),
            replace(CATALOG[4], on_hand=4),
        ]
        for p in placed:  # each order authorized whole, and what stock served captured at once
            totals = await unit.payments.totals(p.order.order_id)
            assert totals.authorized == totals.captured == p.order.total


async def test_a_batch_the_database_refuses_is_split_and_the_others_are_placed(transactions: Transactions) -> None:
    intake = OrderIntake(transactions)
    requests = [command(1, "SOFA"), command(2, "CURSED"), command(3, "LAMP"), command(4, "SOFA")]
    outcomes = await asyncio.gather(*(intake.place(c, "c") for c in requests), return_exceptions=True)
    assert isinstance(outcomes[1], RuntimeError)
    placed = [outcome for outcome in outcomes if isinstance(outcome, handlers.PlacedOrder)]
    assert len(placed) == 3 and all(p.created for p in placed)
    assert transactions.commits == 3  # the batch failed; then each order alone, the poison one failing again
    assert await stored_orders(transactions) == 3
    assert await outbox_rows(transactions) == 2  # the two sofas' backorders; the cursed one left nothing
    async with transactions() as unit:
        lamp = await unit.products.get("LAMP")
    assert lamp is not None and lamp.on_hand == 9


async def test_a_passing_conflict_is_retried_in_a_fresh_transaction(transactions: Transactions) -> None:
    intake = OrderIntake(transactions)
    RefusingProvider.hiccup_met = False
    placed = await asyncio.gather(*(intake.place(c, "c") for c in [command(1, "SHAKY"), command(2, "SOFA")]))
    assert all(p.created for p in placed)
    assert transactions.commits == 1  # the attempt that met the conflict was rolled back, the retry committed
    assert await stored_orders(transactions) == 2


async def test_orders_placed_together_keep_their_own_traces_down_to_their_customer_messages(
    transactions: Transactions,
) -> None:
    with traced() as spans:
        intake = OrderIntake(transactions)
        tracer = trace.get_tracer("tests")

        async def place(email: str) -> tuple[trace.SpanContext, str]:
            with tracer.start_as_current_span(f"POST /orders {email}") as request:
                placed = await intake.place(
                    handlers.PlaceOrder(email, SHIP_TO, [RequestedLine("SOFA", 1)]), f"correlation-{email}"
                )
                return request.get_span_context(), placed.order.order_id

        placed = await asyncio.gather(place("ann@example.com"), place("bob@example.com"))
        assert len([span for span in spans.get_finished_spans() if span.name == "orders transaction"]) == 1
        async with transactions.sessions() as session:
            for request, order_id in placed:
                outgoing = (
                    (await session.execute(select(outbox.c.body).where(outbox.c.body.contains(order_id))))
                    .scalars()
                    .all()
                )
                messages = (
                    (
                        await session.execute(
                            select(notifications.c.traceparent).where(notifications.c.order_id == order_id)
                        )
                    )
                    .scalars()
                    .all()
                )
                own = f"00-{request.trace_id:032x}-{request.span_id:016x}-"
                assert outgoing and all(json.loads(body)["traceparent"].startswith(own) for body in outgoing)
                assert messages and all(traceparent.startswith(own) for traceparent in messages)
