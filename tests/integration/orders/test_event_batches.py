"""Orders' events delivered together: one transaction, the union of their orders locked in one sorted
statement and read once, the same end state as one at a time; a poison event fails alone."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine
from test_big_order import Statements
from test_customer_journey_store import SHIP_TO, count, po_line

from dropship_shared.batching import EventBatcher
from dropship_shared.events import (
    AcknowledgedLine,
    BatchReleaseExpected,
    Envelope,
    LineCancellationResolved,
    PurchaseOrderAcknowledged,
    PurchaseOrderRequested,
    ShipmentUpdated,
    ShippedLine,
    utcnow,
)
from dropship_shared.unit_of_work import UnitOfWorkFactory
from orders.adapters.orm import inbox, line_transitions, outbox, supplier_release_estimates
from orders.domain.model import RequestedLine
from orders.domain.promise import PromiseRules
from orders.service_layer import event_handlers, handlers
from orders.service_layer.unit_of_work import OrdersUnitOfWork


async def place(uow: UnitOfWorkFactory[OrdersUnitOfWork], lines: int) -> str:
    command = handlers.PlaceOrder("ann@example.com", SHIP_TO, [RequestedLine("TABLE", 1)] * lines)
    return (await handlers.place_order(uow, command, "c")).order.order_id


def on_po(po_number: str, order_ids: list[str]) -> PurchaseOrderRequested:
    """The first line of each order on one PO."""
    return PurchaseOrderRequested(
        po_number=po_number,
        supplier_id="globex",
        currency="USD",
        release_reason="min_units",
        lines=[po_line(order_id, 1, 1) for order_id in order_ids],
    )


def events_over(order_ids: list[str]) -> list[Envelope]:
    """A release estimate for every line, then a PO and a shipment of each order's first line (in reverse
    order of the orders), then the PO of the second line of every order."""
    release = utcnow() + timedelta(days=20)
    estimate = BatchReleaseExpected(
        supplier_id="globex",
        expected_release_at=release,
        backorder_line_ids=[f"{order_id}-{n}" for order_id in order_ids for n in (1, 2)],
    )
    first_lines = PurchaseOrderRequested(
        po_number="PO1",
        supplier_id="globex",
        currency="USD",
        release_reason="min_units",
        lines=[po_line(order_id, 1, 1) for order_id in reversed(order_ids)],
    )
    shipped = ShipmentUpdated(
        shipment_id="S1",
        po_number="PO1",
        supplier_id="globex",
        shipped_at=utcnow(),
        carrier_name="UPS",
        tracking_number="1Z1",
        lines=[ShippedLine(backorder_line_id=f"{order_id}-1", line_no=1, quantity=1) for order_id in order_ids],
    )
    second_lines = PurchaseOrderRequested(
        po_number="PO2",
        supplier_id="globex",
        currency="USD",
        release_reason="min_units",
        lines=[po_line(order_id, 2, 1) for order_id in order_ids],
    )
    return [Envelope.wrap(payload, f"c{n}") for n, payload in enumerate((estimate, first_lines, shipped, second_lines))]


async def test_events_delivered_together_lock_and_read_their_orders_once_and_end_as_one_at_a_time(
    orders_database: tuple[UnitOfWorkFactory[OrdersUnitOfWork], AsyncEngine],
) -> None:
    uow, engine = orders_database
    together = [await place(uow, 2) for _ in range(3)]
    alone = [await place(uow, 2) for _ in range(3)]
    watched = Statements(engine)

    batch = events_over(together)
    await event_handlers.handle_events(uow, [*batch, batch[1]], PromiseRules())  # one redelivered in the batch
    # all of them locked (sorted ids, one statement), then read with their lines and the lines' shipments,
    # promises and credits in one statement
    assert watched.ran["SELECT orders"] == 2
    assert watched.ran["SELECT line_shipments"] == 1  # what is stored, before writing
    assert len(watched.selects) == 3
    assert not any("line_transitions" in text for text in watched.selects)  # no event reads the status history
    assert watched.ran["INSERT line_shipments"] == 1
    for envelope in events_over(alone):
        await event_handlers.handle_event(uow, envelope)

    async def state(order_id: str) -> list[tuple[str, str | None, int, int]]:
        order = await handlers.get_order(uow, order_id)
        return [(line.status.value, line.po_number, len(line.history), len(line.promises)) for line in order.lines]

    for batched_id, alone_id in zip(together, alone, strict=True):
        assert await state(batched_id) == await state(alone_id)
    assert [line[:3] for line in await state(together[0])] == [("shipped", "PO1", 3), ("on_purchase_order", "PO2", 2)]
    assert await count(uow, inbox) == 8
    assert await count(uow, supplier_release_estimates) == 1
    assert await count(uow, line_transitions) == 6 * 2 + 6 * 3  # each line placed, then each event's moves
    async with uow() as unit:
        types = Counter(await unit.session.scalars(outbox.select().with_only_columns(outbox.c.event_type)))
    assert types == {"backorder.created": 12}


async def test_a_poison_event_in_a_batch_fails_alone(
    orders_database: tuple[UnitOfWorkFactory[OrdersUnitOfWork], AsyncEngine],
) -> None:
    uow, _ = orders_database
    order_ids = [await place(uow, 2) for _ in range(2)]
    good = events_over(order_ids)
    poison = good[3].model_copy(update={"event_id": uuid.uuid4(), "payload": {"po_number": "PO9"}})  # unreadable
    batcher = EventBatcher(lambda envelopes: event_handlers.handle_events(uow, envelopes, PromiseRules()))
    outcomes = await asyncio.gather(
        *(batcher.handle(e) for e in [*good[:2], poison, *good[2:]]), return_exceptions=True
    )
    assert [isinstance(outcome, Exception) for outcome in outcomes] == [False, False, True, False, False]
    assert await count(uow, inbox) == 4
    order = await handlers.get_order(uow, order_ids[0])
    assert [line.status.value for line in order.lines] == ["shipped", "on_purchase_order"]


async def test_a_refused_cancellation_in_a_batch_resumes_the_status_its_line_had_before_the_request(
    orders_database: tuple[UnitOfWorkFactory[OrdersUnitOfWork], AsyncEngine],
) -> None:
    uow, engine = orders_database
    order_id, other_id = await place(uow, 1), await place(uow, 1)
    requested = on_po("PO1", [order_id])
    acknowledged = PurchaseOrderAcknowledged(
        po_number="PO1",
        supplier_id="globex",
        status="accepted",
        lines=[AcknowledgedLine(backorder_line_id=f"{order_id}-1", line_no=1, status="accepted", quantity=1)],
    )
    for payload in (requested, acknowledged):
        await event_handlers.handle_event(uow, Envelope.wrap(payload, "c"))
    await handlers.cancel_order(uow, order_id, "c")
    watched = Statements(engine)

    refused = LineCancellationResolved(
        po_number="PO1", supplier_id="globex", backorder_line_id=f"{order_id}-1", outcome="refused"
    )
    other = on_po("PO2", [other_id])
    await event_handlers.handle_events(uow, [Envelope.wrap(other, "c"), Envelope.wrap(refused, "c")], PromiseRules())
    # the batch's orders read with their history (in the same statement), for the refusal
    assert [text for text in watched.selects if "line_transitions" in text] == watched.selects[1:2]
    assert (await handlers.get_order(uow, order_id)).lines[0].status.value == "acknowledged"
    assert (await handlers.get_order(uow, other_id)).lines[0].status.value == "on_purchase_order"
