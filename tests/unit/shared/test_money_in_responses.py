"""Money in the aggregator's and the gateway's answers has the one form orders uses on both engines: PostgreSQL's
NUMERIC(18,4) reads back 20.0000 where SQLite reads 20, and either answers "20"."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from aggregator.entrypoints.schemas import PurchaseOrderLineOut as ReleasedLineOut
from aggregator.entrypoints.schemas import PurchaseOrderOut
from supplier_gateway.entrypoints.schemas import PurchaseOrderLineOut as PlacedLineOut

ADDRESS = {
    "name": "Ann",
    "address_lines": ["1 Main St"],
    "city": "Springfield",
    "postal_code": "62701",
    "country": "US",
}


@pytest.mark.parametrize(
    ("stored", "answered"), [("20.0000", "20"), ("20", "20"), ("19.9900", "19.99"), ("4.1E+2", "410")]
)
def test_a_released_po_answers_its_amounts_in_one_form(stored: str, answered: str) -> None:
    po = PurchaseOrderOut.model_validate(
        {
            "po_number": "PO-1",
            "supplier_id": "acme",
            "created_at": datetime(2026, 11, 29, tzinfo=UTC),
            "release_reason": "minimum_met",
            "below_minimum": False,
            "policy_version": 1,
            "part": 1,
            "parts": 1,
            "total_units": 1,
            "total_value": Decimal(stored),
        }
    )
    assert po.model_dump(mode="json")["total_value"] == answered
    line = ReleasedLineOut(
        line_no=1,
        backorder_line_id="O-1",
        sku="S",
        supplier_sku="SS",
        quantity=1,
        unit_cost=Decimal(stored),
        surplus=False,
    )
    assert line.model_dump(mode="json")["unit_cost"] == answered


def test_a_placed_po_line_answers_its_unit_cost_in_one_form() -> None:
    line = PlacedLineOut.model_validate(
        {
            "line_no": 1,
            "backorder_line_id": "O-1",
            "sku": "S",
            "supplier_sku": "SS",
            "quantity": 1,
            "unit_cost": Decimal("12.5000"),
            "ship_to": ADDRESS,
            "customer_ref": "O-1",
            "status": "open",
            "accepted_qty": 0,
            "rejected_qty": 0,
            "shipped_qty": 0,
            "cancelled_qty": 0,
            "open_qty": 1,
            "expected_ship_date": None,
            "reason": None,
        }
    )
    assert line.model_dump(mode="json")["unit_cost"] == "12.5"
