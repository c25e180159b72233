"""Case-pack surplus on a supplier PO is recorded once as stock on its way to the merchant's warehouse."""

from __future__ import annotations

from decimal import Decimal

from dropship_shared.events import Address, Envelope, PurchaseOrderLine, PurchaseOrderRequested
from orders.domain.promise import PromiseRules
from orders.service_layer import event_handlers, views
from orders.service_layer.handlers import UnitOfWorkFactory

WAREHOUSE = Address(name="Warehouse", address_lines=["1 Dock"], city="Springfield", postal_code="62701", country="US")


async def test_surplus_units_become_incoming_stock_once(journey_uow: UnitOfWorkFactory) -> None:
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
