"""The customer's side of a backorder on SQLite and PostgreSQL, each event applied once in effect."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, select

from dropship_shared.events import (
    AcknowledgedLine,
    Address,
    BatchReleaseExpected,
    Envelope,
    LineCancellationResolved,
    Payload,
    PurchaseOrderAcknowledged,
    PurchaseOrderLine,
    PurchaseOrderRequested,
    ShipmentUpdated,
    ShippedLine,
    utcnow,
)
from dropship_shared.unit_of_work import UnitOfWorkFactory
from orders.adapters.orm import consolation_credits, notifications, payment_ledger
from orders.domain.model import RequestedLine
from orders.service_layer import event_handlers, handlers, views
from orders.service_layer.unit_of_work import OrdersUnitOfWork

SHIP_TO = Address(name="Ann", address_lines=["1 Main St"], city="Springfield", postal_code="62701", country="US")


async def deliver(uow: UnitOfWorkFactory[OrdersUnitOfWork], payload: Payload) -> None:
    """Deliver an event twice, as a redelivering broker may."""
    envelope = Envelope.wrap(payload, "test")
    await event_handlers.handle_event(uow, envelope)
    await event_handlers.handle_event(uow, envelope)


def po_line(order_id: str, line_no: int, quantity: int) -> PurchaseOrderLine:
    return PurchaseOrderLine(
        line_no=line_no,
        backorder_line_id=f"{order_id}-{line_no}",
        sku="TABLE",
        supplier_sku="GX-9",
        quantity=quantity,
        unit_cost=Decimal("210"),
        ship_to=SHIP_TO,
        customer_ref=f"{order_id}/{line_no}",
    )


async def count(uow: UnitOfWorkFactory[OrdersUnitOfWork], table: object, **where: object) -> int:
    async with uow() as unit:
        query = select(func.count()).select_from(table)  # type: ignore[arg-type]
        for column, value in where.items():
            query = query.where(table.c[column] == value)
        return int(await unit.session.scalar(query) or 0)


async def test_a_backorder_from_promise_to_delivery(journey_uow: UnitOfWorkFactory[OrdersUnitOfWork]) -> None:
    uow = journey_uow
    placed = await handlers.place_order(
        uow,
        handlers.PlaceOrder(
            "ann@example.com",
            SHIP_TO,
            [
                RequestedLine("CHAIR", 1),
                RequestedLine("TABLE", 3),
                RequestedLine("TABLE", 1),
                RequestedLine("TABLE", 1),
            ],
        ),
        "c",
    )
    order_id = placed.order.order_id
    today = utcnow().date()
    assert placed.order.lines[1].promised_date == today + timedelta(days=3 + 10 + 3)

    # The aggregator expects the batch out in 5 days: one day later than the default wait.
    await deliver(
        uow,
        BatchReleaseExpected(
            supplier_id="globex",
            expected_release_at=utcnow() + timedelta(days=5),
            backorder_line_ids=[f"{order_id}-2", f"{order_id}-3", f"{order_id}-4"],
        ),
    )
    await deliver(
        uow,
        PurchaseOrderRequested(
            po_number="PO1",
            supplier_id="globex",
            currency="USD",
            release_reason="min_units",
            lines=[po_line(order_id, 2, 3), po_line(order_id, 3, 1), po_line(order_id, 4, 1)],
        ),
    )
    # The customer cancels line 4 while it is on the PO: the supplier must confirm.
    order = await handlers.cancel_line(uow, order_id, 4, "c")
    assert order.lines[3].status.value == "cancel_requested"
    await deliver(
        uow,
        PurchaseOrderAcknowledged(
            po_number="PO1",
            supplier_id="globex",
            status="partial",
            lines=[
                AcknowledgedLine(
                    backorder_line_id=f"{order_id}-2",
                    line_no=1,
                    status="backordered",
                    quantity=3,
                    expected_ship_date=today + timedelta(days=20),
                ),
                AcknowledgedLine(
                    backorder_line_id=f"{order_id}-3", line_no=2, status="rejected", quantity=1, reason="discontinued"
                ),
            ],
        ),
    )
    await deliver(
        uow,
        LineCancellationResolved(
            po_number="PO1", supplier_id="globex", backorder_line_id=f"{order_id}-4", outcome="cancelled"
        ),
    )
    for shipment_id, quantity in (("S1", 1), ("S2", 2)):
        await deliver(
            uow,
            ShipmentUpdated(
                shipment_id=shipment_id,
                po_number="PO1",
                supplier_id="globex",
                shipped_at=utcnow(),
                carrier_name="UPS",
                tracking_number=f"1Z{shipment_id}",
                lines=[ShippedLine(backorder_line_id=f"{order_id}-2", line_no=1, quantity=quantity)],
            ),
        )
    await handlers.confirm_delivery(uow, order_id, 2, "carrier", "c")

    order = await handlers.get_order(uow, order_id)
    assert [line.status.value for line in order.lines] == ["allocated", "delivered", "rejected", "cancelled"]
    table = order.lines[1]
    assert [t.to_status.value for t in table.history] == [
        "backordered",
        "on_purchase_order",
        "backordered_at_supplier",
        "partially_shipped",
        "shipped",
        "delivered",
    ]
    assert all(t.event_id for t in table.history[1:5])
    assert [p.cause for p in table.promises] == [
        "order_placed",
        "batch.release_expected",
        "purchase_order.requested",
        "purchase_order.acknowledged",
        "shipment.updated",
    ]
    assert [p.promised_date for p in table.promises][1:] == [
        today + timedelta(days=5 + 10 + 3),
        today + timedelta(days=10 + 3),  # released today: firm, earlier
        today + timedelta(days=23),
        today + timedelta(days=3),
    ]
    # Day 16 (the first promise) → day 23 is 7 days: within the threshold, so no credit; but a real delay.
    assert table.credit is None
    assert await count(uow, consolation_credits) == 0

    totals = await views.payments(uow, order_id)
    assert totals.authorized == Decimal("99.50") + 5 * Decimal("500")
    assert totals.captured == Decimal("99.50") + 3 * Decimal("500")
    assert totals.released == 2 * Decimal("500")
    assert totals.reconciled
    assert await count(uow, payment_ledger, order_id=order_id) == 1 + 1 + 2 + 2  # authorization, captures, releases

    messages = await views.messages(uow, order_id)
    email = [(m["kind"], m["line_no"]) for m in messages if m["channel"] == "email"]
    assert email == [
        ("backorder_placed", None),
        ("date_moved", 2),
        ("date_moved", 3),
        ("date_moved", 4),
        ("date_improved", 2),
        ("date_improved", 3),
        ("date_improved", 4),
        ("date_moved", 2),
        ("rejected", 3),
        ("cancelled", 4),
        ("shipped", 2),
        ("shipped", 2),
    ]
    assert len(messages) == 2 * len(email)  # and the same on the webhook channel
    shipped = next(m for m in messages if m["kind"] == "shipped" and m["channel"] == "email")
    assert "1ZS1" in shipped["body"] and "https://track.example.com/UPS/1ZS1" in shipped["body"]
    assert "remaining 2 will follow" in shipped["body"]


async def test_a_long_slip_issues_one_credit_recorded_once(journey_uow: UnitOfWorkFactory[OrdersUnitOfWork]) -> None:
    uow = journey_uow
    placed = await handlers.place_order(
        uow, handlers.PlaceOrder("bob@example.com", SHIP_TO, [RequestedLine("TABLE", 2)]), "c"
    )
    order_id = placed.order.order_id
    for days in (30, 40):
        await deliver(
            uow,
            PurchaseOrderAcknowledged(
                po_number="PO9",
                supplier_id="globex",
                status="partial",
                lines=[
                    AcknowledgedLine(
                        backorder_line_id=f"{order_id}-1",
                        line_no=1,
                        status="backordered",
                        quantity=2,
                        expected_ship_date=utcnow().date() + timedelta(days=days),
                    )
                ],
            ),
        )
    order = await handlers.get_order(uow, order_id)
    assert order.lines[0].credit == Decimal("100.00")
    assert await count(uow, consolation_credits) == 1
    slips = [m for m in await views.messages(uow, order_id) if m["kind"] == "date_moved" and m["channel"] == "email"]
    assert len(slips) == 2
    assert "credited 100.00" in slips[0]["body"] and "credited" not in slips[1]["body"]


async def test_a_refused_cancellation_keeps_the_line_and_its_money(
    journey_uow: UnitOfWorkFactory[OrdersUnitOfWork],
) -> None:
    uow = journey_uow
    placed = await handlers.place_order(
        uow, handlers.PlaceOrder("c@example.com", SHIP_TO, [RequestedLine("TABLE", 1)]), "c"
    )
    order_id = placed.order.order_id
    await deliver(
        uow,
        PurchaseOrderRequested(
            po_number="PO2", supplier_id="globex", currency="USD", release_reason="x", lines=[po_line(order_id, 1, 1)]
        ),
    )
    order = await handlers.cancel_order(uow, order_id, "c")
    again = await handlers.cancel_order(uow, order_id, "c")
    assert order.lines[0].status.value == again.lines[0].status.value == "cancel_requested"
    await deliver(
        uow,
        LineCancellationResolved(
            po_number="PO2", supplier_id="globex", backorder_line_id=f"{order_id}-1", outcome="already_shipped"
        ),
    )
    order = await handlers.get_order(uow, order_id)
    assert order.lines[0].status.value == "on_purchase_order"
    totals = await views.payments(uow, order_id)
    assert (totals.captured, totals.released, totals.outstanding) == (Decimal(0), Decimal(0), Decimal("500"))
    kinds = [m["kind"] for m in await views.messages(uow, order_id) if m["channel"] == "email"]
    assert kinds == ["backorder_placed", "date_improved", "cancel_refused"]  # released at once: sooner
    assert await count(uow, notifications, order_id=order_id) == 6
