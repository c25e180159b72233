"""A 200-line order's events lock the order once and write only the lines they change (issue 9 item 5:
a big order's burst of events must not hold long transactions that stall reads)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from test_customer_journey_store import SHIP_TO, po_line

from dropship_shared.events import (
    BatchReleaseExpected,
    Envelope,
    PurchaseOrderRequested,
    ShipmentUpdated,
    ShippedLine,
    utcnow,
)
from dropship_shared.unit_of_work import UnitOfWorkFactory
from orders.domain.model import RequestedLine
from orders.service_layer import event_handlers, handlers
from orders.service_layer.unit_of_work import OrdersUnitOfWork

LINES = 200


class Statements:
    """What the engine ran: statements by kind and (first) table, and the rows they wrote."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.ran: Counter[str] = Counter()
        self.rows_written: Counter[str] = Counter()
        self.selects: list[str] = []  # their text, to see every table one reads
        event.listen(engine.sync_engine, "after_cursor_execute", self._seen)

    def _seen(self, _conn: Any, cursor: Any, statement: str, parameters: Any, _ctx: Any, executemany: bool) -> None:
        words = statement.replace('"', "").split()
        kind = words[0].upper()
        table = ""
        if kind in ("INSERT", "DELETE"):
            table = words[2].lower()
        elif kind == "UPDATE":
            table = words[1].lower()
        elif kind == "SELECT" and "FROM" in words:
            table = words[words.index("FROM") + 1].lower()
        self.ran[f"{kind} {table}".strip()] += 1
        if kind == "SELECT":
            self.selects.append(statement)
        if kind in ("INSERT", "UPDATE", "DELETE"):
            self.rows_written[table] += len(parameters) if executemany else max(cursor.rowcount, 0)

    def clear(self) -> None:
        self.ran.clear()
        self.rows_written.clear()
        self.selects.clear()


async def test_events_of_a_200_line_order_lock_it_once_and_write_only_what_changed(
    orders_database: tuple[UnitOfWorkFactory[OrdersUnitOfWork], AsyncEngine],
) -> None:
    uow, engine = orders_database
    placed = await handlers.place_order(
        uow, handlers.PlaceOrder("ann@example.com", SHIP_TO, [RequestedLine("TABLE", 1)] * LINES), "c"
    )
    order_id = placed.order.order_id
    line_ids = [f"{order_id}-{n}" for n in range(1, LINES + 1)]
    watched = Statements(engine)

    # One event naming every line: the order locked, then read (one statement each), its lines written once each.
    await event_handlers.handle_event(
        uow,
        Envelope.wrap(
            BatchReleaseExpected(
                supplier_id="globex", expected_release_at=utcnow() + timedelta(days=30), backorder_line_ids=line_ids
            ),
            "c",
        ),
    )
    assert watched.ran["SELECT orders"] == 2
    assert watched.ran["DELETE order_lines"] == 0
    assert watched.rows_written["order_lines"] == LINES  # every promise moved

    # A PO for every line, in reverse order: the same.
    watched.clear()
    po = PurchaseOrderRequested(
        po_number="PO1",
        supplier_id="globex",
        currency="USD",
        release_reason="min_units",
        lines=[po_line(order_id, n, 1) for n in range(LINES, 0, -1)],
    )
    await event_handlers.handle_event(uow, Envelope.wrap(po, "c"))
    assert watched.ran["SELECT orders"] == 2
    assert watched.rows_written["order_lines"] == LINES

    # A shipment of two lines writes those two lines, not the order's 200.
    watched.clear()
    shipment = ShipmentUpdated(
        shipment_id="S1",
        po_number="PO1",
        supplier_id="globex",
        shipped_at=utcnow(),
        carrier_name="UPS",
        tracking_number="1Z1",
        lines=[ShippedLine(backorder_line_id=line_ids[n], line_no=n + 1, quantity=1) for n in (7, 150)],
    )
    await event_handlers.handle_event(uow, Envelope.wrap(shipment, "c"))
    assert watched.ran["SELECT orders"] == 2
    assert watched.rows_written["order_lines"] == 2
    assert watched.ran["DELETE order_lines"] == 0

    order = await handlers.get_order(uow, order_id)
    statuses = Counter(line.status.value for line in order.lines)
    assert statuses == {"on_purchase_order": LINES - 2, "shipped": 2}
