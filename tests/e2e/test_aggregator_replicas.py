"""Two aggregator replicas on one PostgreSQL database and one queue: thousands of backorders and
cancellations with duplicates, one replica killed with kill -9 midway; every line ends in exactly one
purchase order or was cancelled (architecture invariants 1 and 4)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from devstack import ServiceProcess, free_port
from dropship_shared.events import Address, BackorderCancelled, BackorderCreated, Envelope
from dropship_shared.messaging import Broker
from e2e.conftest import SystemFactory
from support.infrastructure import BrokerNamespace
from support.polling import until_stalled
from support.released import ReleasedLines
from support.tokens import bearer

SUPPLIERS = [f"s{n:02d}" for n in range(40)]
LINES = 3000
SHIP_TO = Address(name="Ann", address_lines=["1 Main St"], city="Springfield", postal_code="62701", country="US")


def backorder(n: int) -> Envelope:
    supplier = SUPPLIERS[n % len(SUPPLIERS)]
    return Envelope.wrap(
        BackorderCreated(
            backorder_line_id=f"L{n:05d}-1",
            order_id=f"L{n:05d}",
            line_no=1,
            sku=f"SKU-{supplier}",
            supplier_id=supplier,
            supplier_sku=f"X-{supplier}",
            quantity=1 + n % 3,
            unit_cost=Decimal("5"),
            ship_to=SHIP_TO,
            customer_ref=f"L{n:05d}/1",
            ordered_at=datetime.now(UTC),
        ),
        f"c{n}",
    )


def cancellation(n: int) -> Envelope:
    return Envelope.wrap(
        BackorderCancelled(backorder_line_id=f"L{n:05d}-1", supplier_id=SUPPLIERS[n % len(SUPPLIERS)]), f"c{n}"
    )


@pytest.mark.timeout(900)  # thousands of events on a busy machine; the wait above fails on a stall
async def test_two_replicas_one_killed_every_line_once(
    make_system: SystemFactory, postgres_url: str, broker_namespace: BrokerNamespace
) -> None:
    system = make_system(
        database_urls={"aggregator": postgres_url},
        extra_env={"aggregator": {"SCHEDULER_INTERVAL_SECONDS": "0.2", "PREFETCH": "16"}},
    )
    first = system.services["aggregator"]
    second = ServiceProcess("aggregator", free_port(), {**first.env}, first.log_path.with_name("aggregator-2.log"))
    second.env["HTTP_PORT"] = str(second.port)
    system.start("aggregator")
    second.start()
    try:
        second.wait_ready()
        with httpx.Client(base_url=first.url, timeout=10, headers=bearer()) as client:
            for supplier in SUPPLIERS:
                client.put(f"/suppliers/{supplier}", json={"name": supplier}).raise_for_status()
                client.put(
                    f"/suppliers/{supplier}/policy", json={"min_units": 15, "max_wait_seconds": 6}
                ).raise_for_status()

        rng = random.Random(7)
        cancelled = set(rng.sample(range(LINES), LINES // 10))
        messages: list[Envelope] = []
        for n in range(LINES):
            messages.append(backorder(n))
            if rng.random() < 0.1:
                messages.append(messages[-1])  # a duplicate delivery of the same event
            if n in cancelled:
                messages.append(cancellation(n))
        publisher = Broker(broker_namespace.amqp_url, broker_namespace.exchange)
        await publisher.connect()
        half = len(messages) // 2
        for envelope in messages[:half]:
            await publisher.publish(envelope)
        first.kill()  # mid-stream, with deliveries in flight
        for envelope in messages[half:]:
            await publisher.publish(envelope)
        await publisher.close()
        first.start()
        first.wait_ready()

        expected = {f"L{n:05d}-1" for n in range(LINES)}
        kept = expected - {f"L{n:05d}-1" for n in cancelled}
        seen = await until_stalled(ReleasedLines(second.url), lambda seen: len(kept - set(seen)))
        missing = kept - set(seen)
        assert not missing, f"{len(missing)} lines in no PO, e.g. {sorted(missing)[:5]}"
        assert [line for line, times in seen.items() if times > 1] == []
        assert set(seen) <= expected
        # A cancelled line is either out of every PO or (cancelled after release) in exactly one.
        with httpx.Client(base_url=second.url, timeout=10, headers=bearer()) as client:
            statuses = client.get("/suppliers").json()
        assert sum(s["pending_lines"] for s in statuses) == 0
    finally:
        second.stop()
