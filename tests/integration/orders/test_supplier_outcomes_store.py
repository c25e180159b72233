"""Supplier outcomes on the customer's side, on SQLite and PostgreSQL: a PO that failed, a partial
acceptance, a shipment of units we believed cancelled; each event delivered twice, applied once."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from dropship_shared.events import (
    AcknowledgedLine,
    Address,
    Envelope,
    LineCancellationResolved,
    Payload,
    PurchaseOrderAcknowledged,
    PurchaseOrderFailed,
    PurchaseOrderLine,
    PurchaseOrderLineLate,
    PurchaseOrderRequested,
    ShipmentUpdated,
    ShippedLine,
    utcnow,
)
from dropship_shared.unit_of_work import UnitOfWorkFactory
from orders.domain.model import RequestedLine
from orders.service_layer import event_handlers, handlers, views
from orders.service_layer.unit_of_work import OrdersUnitOfWork

SHIP_TO = Address(name="Ann", address_lines=["1 Main St"], city="Springfield", postal_code="62701", country="US")


async def deliver_twice(uow: UnitOfWorkFactory[OrdersUnitOfWork], payload: Payload) -> None:
    envelope = Envelope.wrap(payload, "test")
    await event_handlers.handle_event(uow, envelope)
    await event_handlers.handle_event(uow, envelope)


async def order_on_po(uow: UnitOfWorkFactory[OrdersUnitOfWork], po_number: str, quantity: int) -> str:
    placed = await handlers.place_order(
        uow, handlers.PlaceOrder("ann@example.com", SHIP_TO, [RequestedLine("TABLE", quantity)]), po_number
    )
    order_id = placed.order.order_id
    line = PurchaseOrderLine(
        line_no=1,
        backorder_line_id=f"{order_id}-1",
        sku="TABLE",
        supplier_sku="GX-9",
        quantity=quantity,
        unit_cost=Decimal("210"),
        ship_to=SHIP_TO,
        customer_ref=f"{order_id}/1",
    )
    requested = PurchaseOrderRequested(
        po_number=po_number, supplier_id="globex", currency="USD", release_reason="x", lines=[line]
    )
    await deliver_twice(uow, requested)
    return order_id


async def emails(uow: UnitOfWorkFactory[OrdersUnitOfWork], order_id: str) -> list[dict[str, object]]:
    return [m for m in await views.messages(uow, order_id) if m["channel"] == "email"]


async def test_a_failed_po_rejects_the_lines_releases_the_money_and_tells_the_customer(
    journey_uow: UnitOfWorkFactory[OrdersUnitOfWork],
) -> None:
    order_id = await order_on_po(journey_uow, "PO-F1", 2)
    failed = PurchaseOrderFailed(
        po_number="PO-F1",
        supplier_id="globex",
        reason="Item GX-9 is no longer manufactured",
        backorder_line_ids=[f"{order_id}-1"],
    )
    await deliver_twice(journey_uow, failed)
    order = await handlers.get_order(journey_uow, order_id)
    assert (order.lines[0].status.value, order.lines[0].rejected_qty) == ("rejected", 2)
    totals = await views.payments(journey_uow, order_id)
    assert (totals.captured, totals.released, totals.reconciled) == (Decimal(0), Decimal(1000), True)
    (rejected,) = [m for m in await emails(journey_uow, order_id) if m["kind"] == "rejected"]
    assert "Item GX-9 is no longer manufactured" in str(rejected["body"])


async def test_a_partial_acceptance_rejects_the_remainder(journey_uow: UnitOfWorkFactory[OrdersUnitOfWork]) -> None:
    order_id = await order_on_po(journey_uow, "PO-P1", 5)
    ack = PurchaseOrderAcknowledged(
        po_number="PO-P1",
        supplier_id="globex",
        status="partial",
        lines=[
            AcknowledgedLine(
                backorder_line_id=f"{order_id}-1",
                line_no=1,
                status="accepted",
                quantity=3,
                reason="only 3 in stock",
                rejected_quantity=2,
            )
        ],
    )
    await deliver_twice(journey_uow, ack)
    order = await handlers.get_order(journey_uow, order_id)
    line = order.lines[0]
    assert (line.status.value, line.rejected_qty, line.open_qty) == ("acknowledged", 2, 3)
    totals = await views.payments(journey_uow, order_id)
    assert (totals.released, totals.outstanding) == (Decimal(1000), Decimal(1500))
    # Placed with the default wait, released at once: the earlier date was told as good news.
    assert [m["kind"] for m in await emails(journey_uow, order_id)] == ["backorder_placed", "date_improved", "rejected"]


async def test_a_shipment_after_a_cancellation_we_believed_in_ships_and_captures(
    journey_uow: UnitOfWorkFactory[OrdersUnitOfWork],
) -> None:
    order_id = await order_on_po(journey_uow, "PO-C1", 1)
    await handlers.cancel_order(journey_uow, order_id, "c")
    await deliver_twice(
        journey_uow,
        LineCancellationResolved(
            po_number="PO-C1", supplier_id="globex", backorder_line_id=f"{order_id}-1", outcome="cancelled"
        ),
    )
    shipped = ShipmentUpdated(
        shipment_id="S-C1",
        po_number="PO-C1",
        supplier_id="globex",
        shipped_at=utcnow(),
        carrier_name="UPS",
        tracking_number="1ZC1",
        lines=[ShippedLine(backorder_line_id=f"{order_id}-1", line_no=1, quantity=1)],
    )
    await deliver_twice(journey_uow, shipped)
    order = await handlers.get_order(journey_uow, order_id)
    assert (order.lines[0].status.value, order.lines[0].cancelled_qty) == ("shipped", 0)
    totals = await views.payments(journey_uow, order_id)
    assert (totals.captured, totals.reconciled) == (Decimal(500), True)
    kinds = [m["kind"] for m in await emails(journey_uow, order_id)]
    assert kinds == ["backorder_placed", "date_improved", "cancelled", "shipped"]


async def test_a_late_supplier_moves_the_promise_once(journey_uow: UnitOfWorkFactory[OrdersUnitOfWork]) -> None:
    order_id = await order_on_po(journey_uow, "PO-L1", 1)
    before = (await handlers.get_order(journey_uow, order_id)).lines[0].promised_date
    assert before is not None
    assumed = before + timedelta(days=30)
    late = PurchaseOrderLineLate(
        po_number="PO-L1",
        supplier_id="globex",
        backorder_line_id=f"{order_id}-1",
        line_no=1,
        expected_ship_date=before,
        assumed_ship_date=assumed,
    )
    await deliver_twice(journey_uow, late)
    line = (await handlers.get_order(journey_uow, order_id)).lines[0]
    assert line.promised_date is not None and line.promised_date > assumed
    kinds = [m["kind"] for m in await emails(journey_uow, order_id)]
    assert kinds.count("date_moved") == 1
