"""The simulator as an X12 supplier takes our 860 (cancel lines) and answers with an 865, line by line."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI

from dropship_shared.signing import sign
from dropship_x12 import (
    LineCancellation,
    Partners,
    PurchaseOrder850,
    PurchaseOrderChange,
    PurchaseOrderLine850,
    build_850,
    build_860,
    envelope,
    parse_865,
    parse_997,
    read_interchange,
    serialize_interchange,
)
from supplier_simulator import SimulatorSettings, create_app

SECRET = "simulator-secret-0123456789"
GATEWAY = Partners("ZZ", "DROPSHIPBUYER", "ZZ", "SIMSUPPLIER")


def interchange(transaction: object, functional_id: str, number: int) -> bytes:
    document = envelope(
        [transaction],  # type: ignore[list-item]
        partners=GATEWAY,
        functional_id=functional_id,
        interchange_control_number=number,
        group_control_number=number,
        prepared_at=datetime.now(UTC),
    )
    return serialize_interchange(document).encode()


@pytest.fixture
async def simulator() -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI]]:
    settings = SimulatorSettings(
        secret=SECRET,
        protocol="x12",
        callback_url="http://127.0.0.1:9/edi",  # deliveries are recorded; nobody needs to receive them here
        auto_ack=False,
        auto_ship_after_seconds=-1,
    )
    app = create_app(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://simulator") as client:
        yield client, app


async def post(client: httpx.AsyncClient, raw: bytes) -> httpx.Response:
    return await client.post("/edi", content=raw, headers=sign(SECRET, raw))


async def test_an_860_is_answered_by_an_865_accepting_open_lines_and_refusing_shipped_ones(
    simulator: tuple[httpx.AsyncClient, FastAPI],
) -> None:
    client, app = simulator
    po = PurchaseOrder850(
        "PO-S1",
        date(2026, 11, 20),
        "USD",
        "DROPSHIPBUYER",
        "Us",
        tuple(PurchaseOrderLine850(n, 3, Decimal("1.50"), f"SKU-{n}", f"V-{n}") for n in (1, 2)),
    )
    placed = await post(client, interchange(build_850(po, 1), "PO", 1))
    assert placed.status_code == 200 and parse_997(read_interchange(placed.text).groups[0].transactions[0]).accepted
    shipped = await client.post("/admin/purchase-orders/PO-S1/ship", json={"lines": [{"line_no": 2, "qty": 3}]})
    assert shipped.status_code == 201, shipped.text

    change = PurchaseOrderChange(
        "PO-S1",
        date(2026, 11, 20),
        date(2026, 11, 21),
        (LineCancellation(1, cancelled=3, remaining=0), LineCancellation(2, cancelled=1, remaining=2)),
    )
    answered = await post(client, interchange(build_860(change, 2), "PC", 2))
    assert answered.status_code == 200
    assert parse_997(read_interchange(answered.text).groups[0].transactions[0]).accepted

    (record,) = [r for r in app.state.x12.dispatcher.records if r.type == "865"]
    ack = parse_865(read_interchange(record.interchange).groups[0].transactions[0])
    assert ack.po_number == "PO-S1"
    assert (ack.answer_for(1), ack.answer_for(2)) == ("accepted", "refused")
    assert "already_shipped" in (ack.lines[1].reason or "")
    order = (await client.get("/admin/purchase-orders/PO-S1")).json()
    assert [line["cancelled"] for line in order["lines"]] == [3, 0]
