"""Orders streamed into a running system while it is being hurt, and what must hold afterwards, read from the
services' databases and the doubles' records (the supplier simulator's purchase orders, the SMTP sink's mailbox),
not from any log.

The stream places orders one after the other through the orders address (a proxy in front of replicas: a
request cut by a dying replica is sent again, with the same Idempotency-Key for an order) and cancels some of
them, some at once (before their PO, mostly) and some a little later (on a PO, mostly)."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from aggregator.adapters import orm as aggregator_orm
from orders.adapters import orm as orders_orm
from support.orders_api import SHIP_TO
from support.tokens import bearer

RETRY_SECONDS = 120.0  # a request is sent again until this long: a replica dies, the proxy moves on
SETTLED = frozenset({"shipped", "delivered", "cancelled", "rejected"})  # an order line nothing more happens to


@dataclass
class OrderStream:
    """`count` orders of one or two lines of `skus`; every `cancel_at_once`-th order cancelled right after it is
    placed, every `cancel_later`-th `later_by` orders afterwards."""

    orders_url: str
    skus: tuple[str, str]
    count: int = 40
    cancel_at_once: int = 5
    cancel_later: int = 7
    later_by: int = 4
    placed: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    async def run(self, hurt_after: int, hurt: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Place the stream; once `hurt_after` orders are placed, `hurt` runs alongside the rest of it."""
        # A connection per request: each goes to the next replica behind the proxy, none lingers on a dead one.
        limits = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=self.orders_url, timeout=30, headers=bearer(), limits=limits) as client:
            hurting: asyncio.Task[None] | None = None
            for n in range(self.count):
                if n == hurt_after:
                    hurting = asyncio.create_task(hurt())
                self.placed.append(await self._place(client, n))
                if n % self.cancel_at_once == 1:
                    await self._cancel(client, self.placed[-1])
                if n >= self.later_by and (n - self.later_by) % self.cancel_later == 3:
                    await self._cancel(client, self.placed[n - self.later_by])
            if hurting is not None:
                await hurting

    async def _place(self, client: httpx.AsyncClient, n: int) -> str:
        lines = [{"sku": self.skus[0], "quantity": 1 + n % 2}]
        if n % 3 == 0:
            lines.append({"sku": self.skus[1], "quantity": 1})
        body = {"customer_email": f"stream{n}@example.com", "ship_to": SHIP_TO, "lines": lines}
        key = {"Idempotency-Key": f"stream-{self.run_id}-{n}"}
        placed = await _until_answered(lambda: client.post("/orders", json=body, headers=key))
        return str(placed["order_id"])

    async def _cancel(self, client: httpx.AsyncClient, order_id: str) -> None:
        await _until_answered(lambda: client.post(f"/orders/{order_id}/cancel"))
        self.cancelled.append(order_id)


async def _until_answered(send: Callable[[], Awaitable[httpx.Response]]) -> dict[str, Any]:
    """The JSON of the first 2xx answer; a cut connection or a 5xx/409 (a replica dying or busy) is sent again."""
    deadline = time.monotonic() + RETRY_SECONDS
    while True:
        try:
            response = await send()
            if response.status_code < 300:
                return dict(response.json())
            if response.status_code < 500 and response.status_code != 409:
                response.raise_for_status()
            problem: object = response.text
        except httpx.TransportError as exc:
            problem = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"no answer within {RETRY_SECONDS}s; last: {problem!r}")
        await asyncio.sleep(0.2)


@dataclass(frozen=True)
class Outcome:
    """What the services' databases and the doubles say once the stream has settled."""

    order_lines: dict[str, dict[str, Any]]  # backorder line id → the orders line (status, po_number)
    aggregator_lines: dict[str, dict[str, Any]]  # backorder line id → the aggregator's line (status, po_number)
    pos_of_line: dict[str, list[str]]  # backorder line id → the aggregator POs carrying it
    aggregator_pos: dict[str, list[tuple[int, int]]]  # PO → its lines as released: (line number, quantity)
    supplier_pos: list[dict[str, Any]]  # the simulator's record of what it received
    sent_messages: int  # customer messages orders has on record as sent
    mailbox_ids: Counter[str]  # Message-ID → times the SMTP sink received it

    @property
    def unsettled(self) -> list[str]:
        return sorted(line for line, row in self.order_lines.items() if row["status"] not in SETTLED)


async def read_outcome(database_urls: dict[str, str], simulator_url: str, mailbox: Path) -> Outcome:
    orders = create_async_engine(database_urls["orders"])
    aggregator = create_async_engine(database_urls["aggregator"])
    try:
        async with orders.connect() as connection:
            table = orders_orm.order_lines
            rows = await connection.execute(
                select(table.c.order_id, table.c.line_no, table.c.status, table.c.po_number).where(
                    table.c.backordered_qty > 0
                )
            )
            order_lines = {f"{row.order_id}-{row.line_no}": dict(row._mapping) for row in rows}
            sent = orders_orm.notifications
            sent_messages = len((await connection.execute(select(sent.c.id).where(sent.c.sent_at.is_not(None)))).all())
        async with aggregator.connect() as connection:
            table = aggregator_orm.backorder_lines
            rows = await connection.execute(select(table.c.backorder_line_id, table.c.status, table.c.po_number))
            aggregator_lines = {row.backorder_line_id: dict(row._mapping) for row in rows}
            po_lines = aggregator_orm.purchase_order_lines
            pos_of_line: dict[str, list[str]] = {}
            aggregator_pos: dict[str, list[tuple[int, int]]] = {}
            rows = await connection.execute(
                select(po_lines.c.po_number, po_lines.c.line_no, po_lines.c.quantity, po_lines.c.backorder_line_id)
            )
            for row in rows:
                aggregator_pos.setdefault(row.po_number, []).append((row.line_no, row.quantity))
                if row.backorder_line_id is not None:
                    pos_of_line.setdefault(row.backorder_line_id, []).append(row.po_number)
    finally:
        await orders.dispose()
        await aggregator.dispose()
    async with httpx.AsyncClient(base_url=simulator_url, timeout=30) as simulator:
        supplier_pos = (await simulator.get("/admin/purchase-orders")).json()["orders"]
    text = mailbox.read_text(errors="replace") if mailbox.exists() else ""
    mailbox_ids = Counter(re.findall(r"^Message-ID: (<[^>]+>)", text, flags=re.MULTILINE))
    return Outcome(order_lines, aggregator_lines, pos_of_line, aggregator_pos, supplier_pos, sent_messages, mailbox_ids)


def assert_every_line_in_one_po_or_cancelled(outcome: Outcome) -> None:
    """Every backorder line reached the aggregator; each is on exactly one PO, or was cancelled before its PO and
    is on none; orders and the aggregator agree on which."""
    missing = sorted(set(outcome.order_lines) - set(outcome.aggregator_lines))
    assert not missing, f"backorder lines the aggregator never recorded: {missing}"
    for line_id, order_line in outcome.order_lines.items():
        line = outcome.aggregator_lines[line_id]
        pos = outcome.pos_of_line.get(line_id, [])
        if line["status"] == "released":
            assert pos == [line["po_number"]], f"{line_id} released on {line['po_number']}, on POs {pos}"
            assert order_line["status"] == "cancelled" or order_line["po_number"] == line["po_number"], (
                line_id,
                order_line,
                line,
            )
        else:
            assert line["status"] == "cancelled", f"{line_id} is {line['status']} in the aggregator"
            assert pos == [], f"{line_id} was cancelled in the aggregator and is on POs {pos}"
            assert order_line["status"] == "cancelled", f"{line_id} left its batch but is {order_line['status']}"


def assert_each_po_sent_once(outcome: Outcome) -> None:
    """The supplier received every PO the aggregator released, each once and with the lines it was released with."""
    received = Counter(po["po_number"] for po in outcome.supplier_pos)
    assert set(received) == set(outcome.aggregator_pos), sorted(set(received) ^ set(outcome.aggregator_pos))
    for po in outcome.supplier_pos:
        lines = sorted((line["line_no"], line["qty"]) for line in po["lines"])
        assert lines == sorted(outcome.aggregator_pos[po["po_number"]]), (po["po_number"], lines)
    doubled = [(po["po_number"], po["receipts"]) for po in outcome.supplier_pos if po["receipts"] != 1]
    assert max(received.values(), default=1) == 1 and not doubled, (
        f"POs the supplier received more than once: {doubled}"
    )


def assert_no_customer_message_twice(outcome: Outcome) -> None:
    assert outcome.mailbox_ids, "no customer message reached the mailbox"
    doubled = [(message_id, times) for message_id, times in outcome.mailbox_ids.items() if times > 1]
    assert not doubled, f"customer messages received more than once: {doubled}"
    # Each message orders has on record as sent is in the mailbox, once (one channel: email).
    assert outcome.sent_messages <= len(outcome.mailbox_ids), (outcome.sent_messages, len(outcome.mailbox_ids))
