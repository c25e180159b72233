"""An order loaded to change and saved: its JSON columns (address, tried suppliers, routing) read back as they
were written, and the save writes only the line columns that changed, nothing for a line left as it was."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from test_big_order import Statements
from test_customer_journey_store import SHIP_TO

from dropship_shared.events import utcnow
from dropship_shared.unit_of_work import UnitOfWorkFactory
from orders.domain.model import Cause, RequestedLine
from orders.domain.promise import PromiseRules
from orders.service_layer import handlers
from orders.service_layer.unit_of_work import OrdersUnitOfWork


async def test_a_loaded_order_reads_its_json_columns_back_and_its_save_writes_only_what_changed(
    orders_database: tuple[UnitOfWorkFactory[OrdersUnitOfWork], AsyncEngine],
) -> None:
    uow_factory, engine = orders_database
    command = handlers.PlaceOrder("ann@example.com", SHIP_TO, [RequestedLine("TABLE", 1), RequestedLine("TABLE", 2)])
    placed = (await handlers.place_order(uow_factory, command, "c")).order
    first = placed.lines[0]
    assert first.tried_suppliers and first.routing  # routed to an offer: both columns hold JSON
    statements = Statements(engine)
    updates: list[str] = []
    event.listen(engine.sync_engine, "after_cursor_execute", lambda *seen: updates.append(seen[2]))

    async with uow_factory() as uow:
        order = (await uow.orders.get_many([placed.order_id], for_update=True))[placed.order_id]
        assert order.ship_to == SHIP_TO
        assert [(line.tried_suppliers, line.routing) for line in order.lines] == [
            (line.tried_suppliers, line.routing) for line in placed.lines
        ]
        statements.clear()
        await uow.orders.save(order)  # nothing changed
        assert "UPDATE order_lines" not in statements.ran
        order.mark_on_purchase_order(2, "PO-7", Cause(utcnow(), "test", "e1"), PromiseRules())
        await uow.orders.save(order)
        await uow.commit()
    assert statements.ran["UPDATE order_lines"] == 1 and statements.rows_written["order_lines"] == 1
    (update,) = [text for text in updates if text.startswith("UPDATE order_lines")]
    assert "po_number" in update and "status" in update
    assert not any(column in update for column in ("sku", "routing", "tried_suppliers", "unit_price"))

    async with uow_factory() as uow:
        again = await uow.orders.get(placed.order_id)
    assert again is not None
    assert [(line.status.value, line.po_number) for line in again.lines] == [
        (first.status.value, first.po_number),
        ("on_purchase_order", "PO-7"),
    ]
    assert [(line.tried_suppliers, line.routing) for line in again.lines] == [
        (line.tried_suppliers, line.routing) for line in placed.lines
    ]
