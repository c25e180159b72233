"""Our purchase orders as X12 850 interchanges and our line cancellations as 860s, with our and the partner's ids."""

from __future__ import annotations

from datetime import datetime

from dropship_x12.po850 import PurchaseOrder850, PurchaseOrderLine850, ShipTo, build_850_document
from dropship_x12.po860 import LineCancellation, PurchaseOrderChange, build_860, parse_860
from dropship_x12.reader import read_interchange
from dropship_x12.writer import Partners, envelope, serialize_interchange
from supplier_gateway.domain.purchase_order import PurchaseOrder
from supplier_gateway.domain.supplier import TradingPartner


def partners(us: TradingPartner, them: TradingPartner, usage_indicator: str) -> Partners:
    return Partners(
        sender_qualifier=us.isa_qualifier,
        sender_id=us.isa_id,
        receiver_qualifier=them.isa_qualifier,
        receiver_id=them.isa_id,
        application_sender_id=us.gs_id,
        application_receiver_id=them.gs_id,
        usage_indicator=usage_indicator,
    )


def sender_key(qualifier: str, isa_id: str) -> str:
    """How an interchange's sender is stored: ISA05:ISA06."""
    return f"{qualifier.strip()}:{isa_id.strip()}"


def purchase_order_interchange(
    po: PurchaseOrder,
    us: TradingPartner,
    them: TradingPartner,
    buyer_name: str,
    control_number: int,
    prepared_at: datetime,
    usage_indicator: str = "P",
) -> str:
    """One interchange, one group, one 850 (drop-ship: a ship-to per line); ISA13 = GS06 = ST02."""
    document = PurchaseOrder850(
        po_number=po.po_number,
        po_date=po.created_at.date(),
        currency=po.currency,
        buyer_id=us.gs_id,
        buyer_name=buyer_name,
        lines=tuple(
            PurchaseOrderLine850(
                line_no=line.line_no,
                quantity=line.orderable_qty,
                unit_price=line.unit_cost,
                buyer_part_number=line.sku,
                vendor_part_number=line.supplier_sku,
                ship_to=ShipTo(
                    name=line.ship_to.name,
                    address_lines=tuple(line.ship_to.address_lines[:2]),
                    city=line.ship_to.city,
                    region=line.ship_to.region,
                    postal_code=line.ship_to.postal_code,
                    country=line.ship_to.country,
                    phone=line.ship_to.phone,
                ),
                customer_ref=line.customer_ref,
            )
            for line in po.lines_to_send
        ),
    )
    return build_850_document(
        document,
        partners=partners(us, them, usage_indicator),
        interchange_control_number=control_number,
        group_control_number=control_number,
        set_control_number=control_number,
        prepared_at=prepared_at,
    )


def line_cancellation_interchange(
    po: PurchaseOrder,
    line_no: int,
    quantity: int,
    reference: str,
    us: TradingPartner,
    them: TradingPartner,
    control_number: int,
    prepared_at: datetime,
    usage_indicator: str = "P",
) -> str:
    """One interchange, one 860 asking to cancel ``quantity`` units of a line (BCH05 = ``reference``)."""
    line = next(line for line in po.lines if line.line_no == line_no)
    remaining = max(line.orderable_qty - quantity, 0)
    change = PurchaseOrderChange(
        po_number=po.po_number,
        po_date=po.created_at.date(),
        change_date=prepared_at.date(),
        lines=(LineCancellation(line_no, quantity, remaining, line.sku, line.supplier_sku),),
        request_reference=reference,
    )
    return serialize_interchange(
        envelope(
            [build_860(change, control_number)],
            partners=partners(us, them, usage_indicator),
            functional_id="PC",
            interchange_control_number=control_number,
            group_control_number=control_number,
            prepared_at=prepared_at,
        )
    )


def change_reference(document: str) -> str:
    """BCH05 of the 860 we sent (our cancellation request's reference)."""
    return parse_860(read_interchange(document).groups[0].transactions[0]).request_reference
