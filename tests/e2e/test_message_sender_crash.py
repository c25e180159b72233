"""Crash safety of the customer-message sender of its own (MESSAGE_SENDER=separate, `python -m orders send-messages`):
kill -9 it while orders stream in, restart it; every message is sent, the orders process sends none meanwhile, and
a message reaches the mailbox twice only if the restarted sender took it back as in doubt (its second attempt), at
once rather than after the 60 s lease. On both engines: LISTEN/NOTIFY wakes it on PostgreSQL, a short look on SQLite.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from devstack import System
from e2e.conftest import SystemFactory
from support.orders_api import SHIP_TO, place_orders_concurrently
from support.polling import eventually, stays
from support.tokens import bearer

ORDERS = 300
LEASE_SECONDS = 60  # DeliveryPolicy.lease: what the restarted sender must not wait for


def mailed(system: System) -> Counter[str]:
    """How many times each Message-ID reached the mailbox (the SMTP sink prints every message it gets)."""
    text = (system.workdir / "smtp-sink.log").read_text(errors="replace")
    return Counter(re.findall(r"^Message-ID: (<[^>]+>)", text, flags=re.MULTILINE))


async def place_orders(orders_url: str, count: int) -> list[str]:
    """Backordered single-line orders, 8 at a time: each stores one customer message (its backorder's)."""
    bodies = [
        {"customer_email": f"c{n}@example.com", "ship_to": SHIP_TO, "lines": [{"sku": "TABLE", "quantity": 1}]}
        for n in range(count)
    ]
    return [answer["order_id"] for answer in await place_orders_concurrently(orders_url, bodies, at_once=8)]


def messages_of(orders_url: str, order_ids: list[str]) -> list[dict[str, object]]:
    with httpx.Client(base_url=orders_url, timeout=30, headers=bearer()) as client:
        return [message for order_id in order_ids for message in client.get(f"/orders/{order_id}/messages").json()]


async def test_kill_the_message_sender_mid_stream_every_message_sent(
    make_system: SystemFactory, database_urls: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONUNBUFFERED", "1")  # the SMTP sink's log is read while it runs
    system = make_system(database_urls=database_urls, message_sender="separate")
    system.start("orders")
    sender = system.services["orders-sender"]
    with httpx.Client(timeout=10, headers=bearer()) as client:
        client.put(
            f"{system.url('orders')}/products",
            json=[
                {
                    "sku": "TABLE",
                    "name": "Table",
                    "supplier_id": "acme",
                    "supplier_sku": "T-1",
                    "price": "10",
                    "cost": "4",
                    "on_hand": 0,
                }
            ],
        ).raise_for_status()

    stream = asyncio.create_task(place_orders(system.url("orders"), ORDERS))
    await eventually(lambda: sum(mailed(system).values()), lambda count: count >= 20)
    assert not stream.done(), "the orders finished before the crash: raise ORDERS"
    sender.kill()
    # Nobody sends while the sender is down: the orders process only stores the messages.
    down = sum(mailed(system).values())
    await stays(lambda: sum(mailed(system).values()), lambda count: count == down, seconds=2.0)
    sender.start()
    restarted = time.monotonic()
    order_ids = await stream
    sender.wait_ready()

    messages = await eventually(
        lambda: messages_of(system.url("orders"), order_ids),
        lambda found: len(found) == ORDERS and all(message["sent_at"] for message in found),
        timeout=LEASE_SECONDS - 10,
    )
    assert time.monotonic() - restarted < LEASE_SECONDS  # the in-doubt ones went at once, not after their lease

    in_doubt = {f"<{str(m['message_key']).replace(':', '.')}@orders>" for m in messages if int(str(m["attempts"])) > 1}
    times = await eventually(lambda: mailed(system), lambda seen: len(seen) >= ORDERS)
    keys = {f"<{str(m['message_key']).replace(':', '.')}@orders>" for m in messages}
    assert set(times) == keys
    twice = {message_id for message_id, count in times.items() if count > 1}
    assert twice <= in_doubt, f"sent twice without being in doubt: {sorted(twice - in_doubt)[:5]}"
    assert all(count <= 2 for count in times.values())
    assert "customer messages in doubt after a restart" in Path(sender.log_path).read_text() or not in_doubt
