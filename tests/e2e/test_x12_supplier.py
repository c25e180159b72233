"""The whole path with an EDI X12 supplier, as processes on real ports: an order short of stock becomes a PO,
the gateway sends it as a signed 850 to the simulator's EDI endpoint, the simulator answers with a 997 and
sends its 997, 855 and 856 back as signed interchanges, and the customer's line shows carrier and tracking.
A malformed interchange (wrong SE count) gets a negative 997 and changes nothing; a re-sent 850 (same ISA13)
is recognised by the supplier and not ordered twice."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx

from devstack import DEMO_SECRET
from dropship_shared.signing import sign
from dropship_x12 import (
    Carrier,
    Package,
    Partners,
    ShipNotice,
    ShippedItem,
    build_856,
    envelope,
    parse_850,
    parse_997,
    read_interchanges,
    serialize_interchange,
)
from e2e.conftest import SystemFactory
from support.tokens import bearer

SHIP_TO = {
    "name": "Ann Lee",
    "address_lines": ["1 Main St"],
    "city": "Springfield",
    "region": "IL",
    "postal_code": "62701",
    "country": "US",
}
GATEWAY_IDS = {"X12_ISA_QUALIFIER": "ZZ", "X12_ISA_ID": "DROPSHIPTEST", "X12_GS_ID": "DROPSHIPTESTGS"}
SUPPLIER_IDS = {"isa_qualifier": "01", "isa_id": "ACMEEDI", "gs_id": "ACMEEDIGS"}


async def wait_until(check: Any, timeout: float = 45.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.3)


def acks_in(document: str) -> list[Any]:
    return [
        parse_997(transaction)
        for interchange in read_interchanges(document)
        for group in interchange.groups
        for transaction in group.transactions
    ]


def bad_856(po_number: str) -> bytes:
    """A well-formed 856 from the supplier's ids, then its SE01 made wrong: a count error, nothing else."""
    notice = ShipNotice(
        shipment_id="BOGUS-ASN",
        po_number=po_number,
        shipped_date=date.today(),
        carrier=Carrier(scac="FDEG", name="FedEx"),
        packages=(Package((ShippedItem(1, Decimal(1)),), (), "BOGUS-TRACKING"),),
    )
    partners = Partners(
        SUPPLIER_IDS["isa_qualifier"],
        SUPPLIER_IDS["isa_id"],
        GATEWAY_IDS["X12_ISA_QUALIFIER"],
        GATEWAY_IDS["X12_ISA_ID"],
        SUPPLIER_IDS["gs_id"],
        GATEWAY_IDS["X12_GS_ID"],
    )
    text = serialize_interchange(
        envelope(
            [build_856([notice], 1, datetime.now(UTC))],
            partners=partners,
            functional_id="SH",
            interchange_control_number=900000001,
            group_control_number=900000001,
            prepared_at=datetime.now(UTC),
        )
    )
    broken, replaced = re.subn(r"~SE\*(\d+)\*", lambda m: f"~SE*{int(m.group(1)) + 3}*", text)
    assert replaced == 1
    return broken.encode()


async def test_order_to_tracking_number_with_an_x12_supplier(make_system: SystemFactory) -> None:
    system = make_system(
        extra_env={
            "supplier-gateway": GATEWAY_IDS,
            "supplier-simulator": {
                "SIMULATOR_PROTOCOL": "x12",
                "SIMULATOR_AUTO_SHIP_AFTER_SECONDS": "0.5",
                "SIMULATOR_X12_ISA_QUALIFIER": SUPPLIER_IDS["isa_qualifier"],
                "SIMULATOR_X12_ISA_ID": SUPPLIER_IDS["isa_id"],
                "SIMULATOR_X12_GS_ID": SUPPLIER_IDS["gs_id"],
                "SIMULATOR_PARTNER_ISA_QUALIFIER": GATEWAY_IDS["X12_ISA_QUALIFIER"],
                "SIMULATOR_PARTNER_ISA_ID": GATEWAY_IDS["X12_ISA_ID"],
                "SIMULATOR_PARTNER_GS_ID": GATEWAY_IDS["X12_GS_ID"],
            },
        }
    )
    system.services["supplier-simulator"].env["SIMULATOR_CALLBACK_URL"] = (
        system.url("supplier-gateway") + "/suppliers/{supplier_id}/edi"
    )
    system.start()
    orders = httpx.Client(base_url=system.url("orders"), timeout=10, headers=bearer())
    aggregator = httpx.Client(base_url=system.url("aggregator"), timeout=10, headers=bearer())
    gateway = httpx.Client(base_url=system.url("supplier-gateway"), timeout=10, headers=bearer())
    simulator = httpx.Client(base_url=system.url("supplier-simulator"), timeout=10)

    gateway.put(
        "/suppliers/acme",
        json={
            "name": "ACME (EDI)",
            "protocol": "x12",
            "base_url": system.url("supplier-simulator") + "/edi",
            "signing_secret": DEMO_SECRET,
            "x12": SUPPLIER_IDS,
        },
    ).raise_for_status()
    aggregator.put("/suppliers/acme", json={"name": "ACME"}).raise_for_status()
    aggregator.put("/suppliers/acme/policy", json={"min_units": 1, "max_wait_seconds": 3600}).raise_for_status()
    orders.put(
        "/products",
        json=[
            {
                "sku": "TABLE-OAK",
                "name": "Oak table",
                "supplier_id": "acme",
                "supplier_sku": "AC-TB-200",
                "price": "899.00",
                "cost": "410.00",
                "on_hand": 1,
            }
        ],
    ).raise_for_status()

    order = orders.post(
        "/orders",
        json={"customer_email": "ann@example.com", "ship_to": SHIP_TO, "lines": [{"sku": "TABLE-OAK", "quantity": 3}]},
    ).json()
    assert order["lines"][0]["backordered_qty"] == 2

    def shipped() -> dict[str, Any] | None:
        body: dict[str, Any] = orders.get(f"/orders/{order['order_id']}").json()
        return body if body["lines"][0]["status"] == "shipped" else None

    done = await wait_until(shipped)
    assert done, (orders.get(f"/orders/{order['order_id']}").text, gateway.get("/suppliers/acme/edi/interchanges").text)
    line = done["lines"][0]
    [shipment] = line["shipments"]
    assert shipment["tracking_number"].startswith("1Z") and shipment["carrier"]
    assert shipment["quantity"] == 2
    po_number = line["po_number"]

    # The supplier got exactly one order, from one 850 interchange that it accepted.
    [received] = simulator.get("/admin/purchase-orders").json()["orders"]
    assert (received["po_number"], received["receipts"], received["status"]) == (po_number, 1, "shipped")
    assert received["lines"][0]["sku"] == "AC-TB-200" and received["lines"][0]["qty"] == 2
    [inbox] = simulator.get("/admin/edi/interchanges").json()["interchanges"]
    assert inbox["status"] == "accepted" and inbox["po_numbers"] == [po_number]
    [ack] = acks_in(inbox["reply"])
    assert ack.accepted and ack.functional_id == "PO"

    # The gateway shows the exchange: our 850 (accepted by their 997), their 997, 855 and 856.
    def exchange() -> list[dict[str, Any]] | None:
        listed: list[dict[str, Any]] = gateway.get("/suppliers/acme/edi/interchanges").json()
        kinds = sorted((i["direction"], i["kind"], i["status"]) for i in listed)
        wanted = [
            ("inbound", "855", "accepted"),
            ("inbound", "856", "accepted"),
            ("inbound", "997", "accepted"),
            ("outbound", "850", "accepted"),
        ]
        return listed if kinds == wanted else None

    listed = await wait_until(exchange, timeout=15)
    assert listed, gateway.get("/suppliers/acme/edi/interchanges").json()
    [outbound] = [i for i in listed if i["direction"] == "outbound"]
    [interchange] = read_interchanges(outbound["body"])
    purchase_order = parse_850(interchange.groups[0].transactions[0])
    assert purchase_order.po_number == po_number and interchange.sender_id == GATEWAY_IDS["X12_ISA_ID"]
    assert [(ln.vendor_part_number, ln.quantity) for ln in purchase_order.lines] == [("AC-TB-200", 2)]
    sent = simulator.get("/admin/callbacks").json()
    assert sorted((r["type"], r["reply_status"]) for r in sent["sent"]) == [
        ("997", "accepted"),
        ("acknowledgement", "accepted"),
        ("shipment", "accepted"),
    ]
    assert not sent["pending"] and not sent["in_flight"]
    numbers = [int(r["control_number"]) for r in sent["sent"]]
    assert numbers == sorted(numbers) and len(set(numbers)) == 3

    # The same 850 again (same ISA13): the supplier recognises it, answers the same 997, orders nothing more.
    raw = outbound["body"].encode()
    again = simulator.post("/edi", content=raw, headers=sign(DEMO_SECRET, raw))
    assert again.status_code == 200 and again.text == inbox["reply"]
    assert again.headers["X-Interchange-Status"] == f"{interchange.control_number}=duplicate"
    [received] = simulator.get("/admin/purchase-orders").json()["orders"]
    assert received["receipts"] == 2
    unsigned = simulator.post("/edi", content=raw, headers={"Content-Type": "application/edi-x12"})
    assert unsigned.status_code == 401

    # A malformed interchange (signed, SE01 wrong) gets a negative 997 and changes nothing.
    before_po = gateway.get(f"/purchase-orders/{po_number}").json()
    bad = bad_856(po_number)
    answer = gateway.post("/suppliers/acme/edi", content=bad, headers=sign(DEMO_SECRET, bad))
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-Interchange-Status"] == "900000001=rejected"
    [negative] = acks_in(answer.text)
    assert not negative.accepted and negative.status == "R" and negative.accepted_count == 0
    assert negative.sets[0].status == "R" and "4" in negative.sets[0].error_codes  # AK5 code 4: count mismatch
    after = orders.get(f"/orders/{order['order_id']}").json()["lines"][0]
    assert after["status"] == "shipped" and after["shipments"] == line["shipments"]
    assert gateway.get(f"/purchase-orders/{po_number}").json() == before_po
    for client in (orders, aggregator, gateway, simulator):
        client.close()
