"""Property-based fuzzing of the signed JSON callback endpoints, on SQLite and PostgreSQL: whatever a
supplier sends (valid, half-valid or junk, signed or not), the answer is never a 5xx, always comes in
bounded time over a connection that stays up, and a refused request changes nothing."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dropship_shared.events import Address, Envelope, PurchaseOrderLine, PurchaseOrderRequested
from dropship_shared.messaging import Broker
from dropship_shared.signing import sign
from supplier_gateway.bootstrap import create_app
from supplier_gateway.config import GatewaySettings
from support.infrastructure import BrokerNamespace
from support.servers import run_uvicorn_app
from support.tokens import bearer

SECRET = "fuzzing-secret-0123456789"
PO_NUMBER = "PO-FUZZ"
ADDRESS = Address(name="Ann", address_lines=["1 Main St"], city="Springfield", postal_code="12345", country="US")
ANSWER_SECONDS = 10.0  # an answer slower than this is a failure (a busy machine stays well below it)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
line_numbers = st.integers(-1, 4) | json_values
quantities = st.integers(-2, 12) | json_values
shipments = st.fixed_dictionaries(
    {
        "shipment_id": st.text(min_size=0, max_size=300) | json_values,
        "po_number": st.sampled_from([PO_NUMBER, "PO-OTHER", ""]) | json_values,
        "shipped_at": st.sampled_from(["2026-11-29T10:00:00Z", "2026-11-29T10:00:00+05:30", "yesterday", ""]),
        "carrier": st.fixed_dictionaries({"name": st.text(max_size=30)}) | json_values,
        "packages": st.lists(
            st.fixed_dictionaries(
                {
                    "tracking_number": st.text(max_size=40) | json_values,
                    "lines": st.lists(st.fixed_dictionaries({"line_no": line_numbers, "qty": quantities}), max_size=4),
                }
            ),
            max_size=3,
        )
        | json_values,
    },
    optional={"service": st.text(max_size=10), "extra": json_values},
)
acknowledgements = st.fixed_dictionaries(
    {
        "po_number": st.sampled_from([PO_NUMBER, "PO-OTHER"]) | json_values,
        "status": st.sampled_from(["accepted", "partial", "rejected", "maybe"]) | json_values,
        "lines": st.lists(
            st.fixed_dictionaries(
                {
                    "line_no": line_numbers,
                    "status": st.sampled_from(["accepted", "backordered", "rejected", "?"]),
                    "qty": quantities,
                },
                optional={
                    "expected_ship_date": st.sampled_from(["2026-12-24", "24/12/2026", ""]),
                    "reason": json_values,
                },
            ),
            max_size=4,
        )
        | json_values,
    }
)
bodies = (
    shipments.map(lambda body: json.dumps(body).encode())
    | acknowledgements.map(lambda body: json.dumps(body).encode())
    | json_values.map(lambda value: json.dumps(value).encode())
    | st.binary(max_size=200)
)


def purchase_order() -> PurchaseOrderRequested:
    return PurchaseOrderRequested(
        po_number=PO_NUMBER,
        supplier_id="fuzz",
        currency="USD",
        release_reason="test",
        lines=[
            PurchaseOrderLine(
                line_no=number,
                backorder_line_id=f"OFUZZ-{number}",
                sku=f"SKU-{number}",
                supplier_sku=f"F-{number}",
                quantity=quantity,
                unit_cost=Decimal("1.00"),
                ship_to=ADDRESS,
                customer_ref=f"OFUZZ/{number}",
            )
            for number, quantity in ((1, 3), (2, 5))
        ],
    )


async def publish(namespace: BrokerNamespace, envelope: Envelope) -> None:
    broker = Broker(namespace.amqp_url, namespace.exchange)
    await broker.connect()
    try:
        await broker.publish(envelope)
    finally:
        await broker.close()


@pytest.fixture
def gateway(database_url: str, broker_namespace: BrokerNamespace) -> Iterator[httpx.Client]:
    """A gateway with supplier `fuzz` on hold (its PO is never sent) and one requested PO of two lines."""
    broker_namespace.queue("supplier-gateway")
    app = create_app(
        GatewaySettings(
            database_url=database_url,
            amqp_url=broker_namespace.amqp_url,
            exchange=broker_namespace.exchange,
            queue_prefix=f"{broker_namespace.prefix}.",
            log_json=False,
            log_level="ERROR",
        )
    )
    with (
        run_uvicorn_app(app, startup_timeout=30) as url,
        httpx.Client(base_url=url, timeout=ANSWER_SECONDS, headers=bearer()) as client,
    ):
        client.put(
            "/suppliers/fuzz",
            json={"protocol": "http", "base_url": "http://127.0.0.1:9", "signing_secret": SECRET, "active": False},
        ).raise_for_status()
        # The gateway may bind its queue just after it answers: the same event (one event_id, so applied once)
        # is published again until the PO is there, rather than trusting the first publish to find the queue.
        requested = Envelope.wrap(purchase_order(), "fuzz")
        deadline = time.monotonic() + 120
        while client.get(f"/purchase-orders/{PO_NUMBER}").status_code != 200:
            assert time.monotonic() < deadline, "the PO never arrived"
            asyncio.run(publish(broker_namespace, requested))
            time.sleep(1)
        yield client


def state_of(client: httpx.Client) -> dict[str, Any]:
    po = client.get(f"/purchase-orders/{PO_NUMBER}").json()
    return {key: po[key] for key in ("state", "lines", "shipment_ids", "acknowledgement")}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=bodies,
    path=st.sampled_from(["/callbacks", "/callbacks/shipment", "/callbacks/acknowledgement"]),
    event_type=st.none() | st.sampled_from(["shipment", "acknowledgement", "invoice", ""]),
    signed=st.sampled_from(["good", "good", "good", "bad", "stale", "none"]),
)
def test_no_callback_gets_a_5xx_a_dropped_connection_or_half_applied(
    gateway: httpx.Client, body: bytes, path: str, event_type: str | None, signed: str
) -> None:
    before = state_of(gateway)
    headers = {"Content-Type": "application/json"}
    if signed != "none":
        stamp = int(time.time()) - (1000 if signed == "stale" else 0)
        headers.update(sign(SECRET if signed != "bad" else "not-the-secret-at-all", body, timestamp=stamp))
    if event_type is not None:
        headers["X-Event-Type"] = event_type
    started = time.monotonic()
    response = gateway.post(f"/suppliers/fuzz{path}", content=body, headers=headers)  # raises if dropped
    assert time.monotonic() - started < ANSWER_SECONDS
    assert response.status_code < 500, response.text
    after = state_of(gateway)
    if response.status_code >= 400 or response.json()["status"] == "duplicate":
        assert after == before, response.text  # refused: nothing applied
    else:
        assert response.status_code == 200 and signed == "good"
    for line in after["lines"]:
        assert 0 <= line["shipped_qty"] <= line["quantity"]
        assert line["open_qty"] == max(
            line["quantity"] - line["shipped_qty"] - line["cancelled_qty"] - line["rejected_qty"], 0
        )
