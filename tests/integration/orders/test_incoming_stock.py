"""Case-pack surplus on its way to the merchant's warehouse: recorded once, promised to new orders, received
(by an operator or after its shipment notice) into stock that serves waiting lines first."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from dropship_shared.events import (
    Address,
    BackorderWithdrawn,
    Envelope,
    PurchaseOrderLine,
    PurchaseOrderRequested,
    ShipmentUpdated,
    ShippedLine,
    utcnow,
)
from dropship_shared.unit_of_work import UnitOfWorkFactory
from orders.adapters.orm import outbox
from orders.domain.model import Order, RequestedLine
from orders.domain.promise import PromiseRules
from orders.service_layer import event_handlers, handlers, receiving, views
from orders.service_layer.unit_of_work import OrdersUnitOfWork

RULES = PromiseRules(transit_days=3, receiving_delay=timedelta(days=2))
WAREHOUSE = Address(name="Warehouse", address_lines=["1 Dock"], city="Springfield", postal_code="62701", country="US")


async def test_surplus_units_become_incoming_stock_once(journey_uow: UnitOfWorkFactory[OrdersUnitOfWork]) -> None:
    request = Envelope.wrap(
        PurchaseOrderRequested(
            po_number="PO00000042",
            supplier_id="globex",
            currency="USD",
            release_reason="minimum_met",
            lines=[
                PurchaseOrderLine(
                    line_no=1,
                    backorder_line_id=None,
                    sku="TABLE",
                    supplier_sku="GX-9",
                    quantity=4,
                    unit_cost=Decimal("200"),
                    ship_to=WAREHOUSE,
                    customer_ref="STOCK",
                )
            ],
        ),
        "c",
    )
    await event_handlers.handle_event(journey_uow, request)
    await event_handlers.handle_event(journey_uow, request)  # redelivered
    availability = await views.availability(journey_uow, "TABLE", PromiseRules())
    assert availability is not None and availability.incoming_qty == 4
    other = await views.availability(journey_uow, "CHAIR", PromiseRules())
    assert other is not None and other.incoming_qty == 0


def surplus_po(po_number: str, quantity: int, customer_line: str | None = None) -> Envelope:
    lines = [
        PurchaseOrderLine(
            line_no=1,
            backorder_line_id=None,
            sku="TABLE",
            supplier_sku="GX-9",
            quantity=quantity,
            unit_cost=Decimal("200"),
            ship_to=WAREHOUSE,
            customer_ref="STOCK",
        )
    ]
    return Envelope.wrap(
        PurchaseOrderRequested(
            po_number=po_number, supplier_id="globex", currency="USD", release_reason="minimum_met", lines=lines
        ),
        "c",
    )


async def order_tables(uow: UnitOfWorkFactory[OrdersUnitOfWork], quantity: int) -> Order:
    command = handlers.PlaceOrder("ann@example.com", WAREHOUSE, [RequestedLine("TABLE", quantity)])
    return (await handlers.place_order(uow, command, "c", RULES)).order


async def outbox_events(uow: UnitOfWorkFactory[OrdersUnitOfWork], event_type: str) -> list[dict[str, Any]]:
    async with uow() as unit:
        bodies = await unit.session.scalars(
            select(outbox.c.body).where(outbox.c.event_type == event_type).order_by(outbox.c.id)
        )
        return [Envelope.model_validate_json(body).payload for body in bodies]


async def test_incoming_surplus_promises_the_next_order_and_serves_it_when_received(
    journey_uow: UnitOfWorkFactory[OrdersUnitOfWork],
) -> None:
    await event_handlers.handle_event(journey_uow, surplus_po("PO1", 4), RULES)
    before = await views.availability(journey_uow, "TABLE", RULES)
    assert before is not None and (before.incoming_qty, before.in_stock) == (4, False)
    # Due in the warehouse after the lead time (10 days) and the receiving delay (2 days); delivery 3 days later.
    assert before.expected_delivery_date == utcnow().date() + timedelta(days=10 + 2 + 3)

    order = await order_tables(journey_uow, 3)
    line = order.lines[0]
    assert (line.status.value, line.awaits_incoming, line.promised_date) == (
        "backordered",
        True,
        before.expected_delivery_date,
    )
    assert await outbox_events(journey_uow, "backorder.created") == []  # no supplier order, no new surplus
    big = await order_tables(journey_uow, 2)  # only 1 incoming unit left unpromised: a supplier backorder
    assert not big.lines[0].awaits_incoming
    assert len(await outbox_events(journey_uow, "backorder.created")) == 1

    outcome = await receiving.receive_stock(
        journey_uow, receiving.Receipt("TABLE", 4, "r1", "operator", "PO1"), RULES, "c"
    )
    # The promised line is served; the 1 unit left cannot serve the 2-unit line: it stays for new orders.
    assert (outcome.served, outcome.withdrawals_requested, outcome.on_hand) == ([f"{order.order_id}-1"], [], 1)
    again = await receiving.receive_stock(journey_uow, receiving.Receipt("TABLE", 4, "r1", "operator"), RULES, "c")
    assert again.duplicate and again.on_hand == 1
    served = await handlers.get_order(journey_uow, order.order_id)
    assert (served.lines[0].status.value, served.lines[0].allocated_qty) == ("allocated", 3)
    assert served.lines[0].promised_date == utcnow().date() + timedelta(days=3)
    assert (await views.payments(journey_uow, order.order_id)).captured == 3 * Decimal(500)
    kinds = [m["kind"] for m in await views.messages(journey_uow, order.order_id) if m["channel"] == "email"]
    assert kinds == ["backorder_placed", "date_improved"]
    after = await views.availability(journey_uow, "TABLE", RULES)
    assert after is not None and (after.incoming_qty, after.on_hand, after.in_stock) == (0, 1, True)


async def test_received_stock_asks_a_batch_line_out_and_serves_it_or_gives_the_units_back(
    journey_uow: UnitOfWorkFactory[OrdersUnitOfWork],
) -> None:
    first = await order_tables(journey_uow, 2)
    second = await order_tables(journey_uow, 2)
    outcome = await receiving.receive_stock(journey_uow, receiving.Receipt("TABLE", 5, "r2", "operator"), RULES, "c")
    ids = [f"{first.order_id}-1", f"{second.order_id}-1"]
    assert (outcome.served, outcome.withdrawals_requested, outcome.on_hand) == ([], ids, 1)
    requested = await outbox_events(journey_uow, "backorder.withdrawal_requested")
    assert [(r["backorder_line_id"], r["quantity"]) for r in requested] == [(ids[0], 2), (ids[1], 2)]

    answers = [
        Envelope.wrap(BackorderWithdrawn(backorder_line_id=ids[0], supplier_id="globex", withdrawn=True), "c"),
        Envelope.wrap(BackorderWithdrawn(backorder_line_id=ids[1], supplier_id="globex", withdrawn=False), "c"),
    ]
    for answer in answers + answers:  # each redelivered
        await receiving.on_backorder_withdrawn(journey_uow, answer, RULES)
    served = await handlers.get_order(journey_uow, first.order_id)
    left = await handlers.get_order(journey_uow, second.order_id)
    assert (served.lines[0].status.value, left.lines[0].status.value) == ("allocated", "backordered")
    stock = await views.availability(journey_uow, "TABLE", RULES)
    assert stock is not None and stock.on_hand == 3  # 1 left + the 2 given back


async def surplus_shipped_for_an_order(journey_uow: UnitOfWorkFactory[OrdersUnitOfWork], number: str) -> Order:
    """3 surplus units on PO<number>, shipped 3 days ago (due), and an order of 3 waiting for them."""
    await event_handlers.handle_event(journey_uow, surplus_po(f"PO{number}", 3), RULES)
    order = await order_tables(journey_uow, 3)
    shipped = ShipmentUpdated(
        shipment_id=f"S{number}",
        po_number=f"PO{number}",
        supplier_id="globex",
        shipped_at=utcnow() - timedelta(days=3),
        carrier_name="UPS",
        tracking_number=f"1Z{number}",
        lines=[ShippedLine(backorder_line_id=None, line_no=1, quantity=3)],
    )
    await event_handlers.handle_event(journey_uow, Envelope.wrap(shipped, "c"), RULES)
    return order


async def test_surplus_is_received_after_its_shipment_notice_and_the_receiving_delay(
    journey_uow: UnitOfWorkFactory[OrdersUnitOfWork],
) -> None:
    order = await surplus_shipped_for_an_order(journey_uow, "7")
    assert await receiving.receive_due_incoming(journey_uow, RULES) == 1
    assert await receiving.receive_due_incoming(journey_uow, RULES) == 0
    served = await handlers.get_order(journey_uow, order.order_id)
    assert served.lines[0].status.value == "allocated"


async def test_two_replicas_receiving_the_same_surplus_at_once_count_it_in_once(
    journey_uow: UnitOfWorkFactory[OrdersUnitOfWork],
) -> None:
    """The receiving loop runs in every orders replica: both find the same due surplus, the receipt's key lets
    one count it in and the other sees a duplicate (the product's lock orders them)."""
    order = await surplus_shipped_for_an_order(journey_uow, "8")
    await asyncio.gather(*(receiving.receive_due_incoming(journey_uow, RULES) for _ in range(2)))
    assert await receiving.receive_due_incoming(journey_uow, RULES) == 0
    served = await handlers.get_order(journey_uow, order.order_id)
    assert served.lines[0].status.value == "allocated"
    stock = await views.availability(journey_uow, "TABLE", RULES)
    assert stock is not None and (stock.on_hand, stock.incoming_qty) == (0, 0)
