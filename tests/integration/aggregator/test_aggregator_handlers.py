"""The aggregator's handlers on SQLite and PostgreSQL: idempotent intake, release at the minimum,
cancellations before and after release, deadlines that survive a restart, escalation, operators."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from aggregator.adapters.orm import inbox, outbox
from aggregator.adapters.repository import RecentLineDetails
from aggregator.bootstrap import MIGRATIONS
from aggregator.service_layer import handlers
from aggregator.service_layer.batches import BatchCache
from aggregator.service_layer.handlers import MerchantTerms
from aggregator.service_layer.unit_of_work import AggregatorUnitOfWork
from dropship_shared.db import create_engine, session_factory
from dropship_shared.events import Address, BackorderCancelled, BackorderCreated, BackorderWithdrawalRequested, Envelope
from dropship_shared.migrations import upgrade_to_head

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
SHIP_TO = Address(name="Ann", address_lines=["1 Main St"], city="Springfield", postal_code="62701", country="US")
WAREHOUSE = Address(name="Warehouse", address_lines=["1 Dock"], city="Springfield", postal_code="62701", country="US")
TERMS = MerchantTerms(WAREHOUSE)


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Harness:
    """The handlers over one database, with the process's batches and recent line details (replaced by a
    restart) and a test clock."""

    sessions: async_sessionmaker[AsyncSession]
    batches: BatchCache
    clock: Clock
    recent_lines: RecentLineDetails = field(default_factory=RecentLineDetails)
    statements: list[str] = field(default_factory=list)  # every statement sent, for the tests that count them

    def uow(self) -> AggregatorUnitOfWork:
        uow = AggregatorUnitOfWork(self.sessions, outbox, inbox)
        uow.recent_lines = self.recent_lines
        return uow

    async def events(self, event_type: str) -> list[dict[str, Any]]:
        async with self.uow() as uow:
            bodies = await uow.session.scalars(
                select(outbox.c.body).where(outbox.c.event_type == event_type).order_by(outbox.c.id)
            )
            return [Envelope.model_validate_json(body).payload for body in bodies]

    def restart(self) -> None:
        """A new process: nothing in memory survives, only the database."""
        self.batches = BatchCache(3600)
        self.recent_lines = RecentLineDetails()

    async def on_backorder_events(self, envelopes: list[Envelope]) -> None:
        await handlers.on_backorder_events(self.uow, self.batches, TERMS, envelopes, self.clock)

    async def review_due_batches(self) -> int:
        return await handlers.review_due_batches(self.uow, self.batches, TERMS, self.clock)

    async def register_supplier(self, supplier_id: str, name: str) -> None:
        await handlers.register_supplier(self.uow, supplier_id, name)

    async def set_policy(self, supplier_id: str, data: dict[str, Any]) -> int:
        return await handlers.set_policy(self.uow, self.batches, TERMS, supplier_id, data, self.clock)

    async def release_now(self, supplier_id: str, correlation_id: str) -> list[str]:
        return await handlers.release_now(self.uow, self.batches, TERMS, supplier_id, correlation_id, self.clock)

    async def set_held(self, supplier_id: str, held: bool) -> None:
        await handlers.set_held(self.uow, self.batches, TERMS, supplier_id, held, self.clock)


@pytest.fixture
async def harness(database_url: str) -> AsyncIterator[Harness]:
    await asyncio.to_thread(upgrade_to_head, str(MIGRATIONS), database_url)
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    harness = Harness(sessions, BatchCache(3600), Clock())
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *sent: harness.statements.append(sent[2]))
    yield harness
    await engine.dispose()


def backorder(line_id: str, quantity: int = 1, supplier: str = "acme", at: datetime = T0) -> Envelope:
    return Envelope.wrap(
        BackorderCreated(
            backorder_line_id=line_id,
            order_id=line_id.split("-")[0],
            line_no=1,
            sku="CHAIR",
            supplier_id=supplier,
            supplier_sku="AC-1",
            quantity=quantity,
            unit_cost=Decimal("40"),
            ship_to=SHIP_TO,
            customer_ref=line_id,
            ordered_at=at,
        ),
        "test",
    )


def cancellation(line_id: str, supplier: str = "acme") -> Envelope:
    return Envelope.wrap(BackorderCancelled(backorder_line_id=line_id, supplier_id=supplier), "test")


async def configure(h: Harness, **policy: Any) -> None:
    await h.register_supplier("acme", "ACME")
    await h.set_policy("acme", {"max_wait_seconds": 3600, **policy})


async def test_release_at_minimum_with_each_line_once_and_duplicates_ignored(harness: Harness) -> None:
    await configure(harness, min_units=5)
    first = backorder("O1-1", 2)
    await harness.on_backorder_events([first])
    await harness.on_backorder_events([first])  # redelivered
    await harness.on_backorder_events([backorder("O1-1", 2)])  # republished under a new event id
    assert await harness.events("purchase_order.requested") == []
    await harness.on_backorder_events([backorder("O2-1", 3)])
    requests = await harness.events("purchase_order.requested")
    assert len(requests) == 1
    assert [(line["backorder_line_id"], line["quantity"]) for line in requests[0]["lines"]] == [
        ("O1-1", 2),
        ("O2-1", 3),
    ]
    assert requests[0]["release_reason"] == "minimum_met" and not requests[0]["below_minimum"]
    assert requests[0]["lines"][0]["ship_to"]["name"] == "Ann"
    expected = await harness.events("batch.release_expected")
    # Empty at the policy (a first line waits the max wait: no arrivals seen), then with O1-1 waiting: its
    # deadline is what the empty batch said, but the batch told empty has lines now (orders' routing counts
    # them: a 3-unit line completes it), and empty again after the release.
    assert [(e["backorder_line_ids"], e["first_line_wait_seconds"]) for e in expected] == [
        ([], 3600.0),
        (["O1-1"], None),
        ([], 3600.0),
    ]
    # where the batch stands, for orders' routing, and the policy's minimums, no cut-off
    assert [
        (e["pending_units"], e["pending_value"], e["min_units"], e["min_value"], e["next_cutoff_at"]) for e in expected
    ] == [(0, "0", 5, "0", None), (2, "80", 5, "0", None), (0, "0", 5, "0", None)]


async def test_cancel_before_release_leaves_the_batch_after_release_asks_the_supplier(harness: Harness) -> None:
    await configure(harness, min_units=3)
    await harness.on_backorder_events([backorder("O1-1", 2)])
    await harness.on_backorder_events([cancellation("O1-1")])
    await harness.on_backorder_events([backorder("O2-1", 2)])
    assert await harness.events("purchase_order.requested") == []  # 2 units pending, not 4
    await harness.on_backorder_events([backorder("O3-1", 1)])
    [request] = await harness.events("purchase_order.requested")
    assert [line["backorder_line_id"] for line in request["lines"]] == ["O2-1", "O3-1"]
    await harness.on_backorder_events([cancellation("O3-1")])
    [cancel] = await harness.events("purchase_order.cancel_requested")
    assert (cancel["po_number"], cancel["line_no"], cancel["quantity"]) == (request["po_number"], 2, 1)


async def test_a_cancellation_that_overtakes_its_backorder_wins(harness: Harness) -> None:
    await configure(harness, min_units=1)
    await harness.on_backorder_events([cancellation("O1-1")])
    await harness.on_backorder_events([backorder("O1-1", 5)])
    assert await harness.events("purchase_order.requested") == []


async def test_deadline_survives_a_restart_and_releases_below_minimum(harness: Harness) -> None:
    await configure(harness, min_units=100, max_wait_seconds=600)
    await harness.on_backorder_events([backorder("O1-1", 2)])
    harness.restart()
    harness.clock.now = T0 + timedelta(seconds=599)
    assert await harness.review_due_batches() == 0
    harness.clock.now = T0 + timedelta(hours=5)  # the service was down at the deadline
    assert await harness.review_due_batches() == 1
    [request] = await harness.events("purchase_order.requested")
    assert request["release_reason"] == "deadline" and request["below_minimum"]


async def test_escalation_at_deadline_is_visible_once_and_nothing_is_released(harness: Harness) -> None:
    await configure(harness, min_units=100, max_wait_seconds=600, on_deadline="escalate")
    await harness.on_backorder_events([backorder("O1-1", 2)])
    harness.clock.now = T0 + timedelta(seconds=601)
    await harness.review_due_batches()
    await harness.review_due_batches()
    assert [e["backorder_line_ids"] for e in await harness.events("batch.escalated")] == [["O1-1"]]
    assert await harness.events("purchase_order.requested") == []
    async with harness.uow() as uow:
        record = await uow.suppliers.get("acme")
    assert record is not None and record.escalated_at is not None


async def test_hold_blocks_release_operator_release_and_resume(harness: Harness) -> None:
    await configure(harness, min_units=3)
    await harness.set_held("acme", True)
    await harness.on_backorder_events([backorder("O1-1", 5)])
    assert await harness.events("purchase_order.requested") == []
    harness.restart()  # the hold is stored, not only in memory
    await harness.on_backorder_events([backorder("O2-1", 1)])
    assert await harness.events("purchase_order.requested") == []
    await harness.set_held("acme", False)
    [request] = await harness.events("purchase_order.requested")
    assert len(request["lines"]) == 2
    await harness.on_backorder_events([backorder("O3-1", 1)])
    assert await harness.release_now("acme", "ops") != []
    requests = await harness.events("purchase_order.requested")
    assert requests[-1]["release_reason"] == "operator" and requests[-1]["below_minimum"]


async def test_case_pack_round_up_ships_the_surplus_to_the_warehouse(harness: Harness) -> None:
    await configure(harness, min_units=1, sku_rules={"AC-1": {"case_pack": 6, "remainder": "round_up"}})
    await harness.on_backorder_events([backorder("O1-1", 4)])
    [request] = await harness.events("purchase_order.requested")
    quantities = [(line["backorder_line_id"], line["quantity"], line["ship_to"]["name"]) for line in request["lines"]]
    assert quantities == [("O1-1", 4, "Ann"), (None, 2, "Warehouse")]


async def test_policy_versions_are_kept(harness: Harness) -> None:
    await configure(harness, min_units=3)
    await harness.set_policy("acme", {"max_wait_seconds": 60, "min_units": 9})
    async with harness.uow() as uow:
        versions = await uow.suppliers.policy_versions("acme")
    assert [(v["version"], v["policy"]["min_units"]) for v in versions] == [(1, 3), (2, 9)]


async def test_events_delivered_together_have_the_effect_of_one_at_a_time(harness: Harness) -> None:
    await configure(harness, min_units=5)
    await harness.register_supplier("zeta", "Zeta")
    await harness.set_policy("zeta", {"max_wait_seconds": 3600, "min_units": 100})
    first = backorder("O1-1", 2)
    await harness.on_backorder_events(
        [
            first,
            first,  # redelivered inside the same batch
            backorder("O2-1", 1, supplier="zeta"),
            backorder("O3-1", 2),
            cancellation("O3-1"),  # cancelled while still pending
            backorder("O4-1", 3),  # acme reaches its minimum here
            backorder("O5-1", 1),  # arrives after that release: waits
        ]
    )
    [request] = await harness.events("purchase_order.requested")
    assert [(line["backorder_line_id"], line["quantity"]) for line in request["lines"]] == [("O1-1", 2), ("O4-1", 3)]
    harness.restart()  # what was written, not only the memory of this process
    async with harness.uow() as uow:
        acme, zeta = await uow.suppliers.get("acme"), await uow.suppliers.get("zeta")
        statuses = [await uow.lines.status_of(line_id) for line_id in ("O3-1", "O5-1", "O2-1")]
    assert acme is not None and (acme.pending_lines, acme.pending_units) == (1, 1)
    assert zeta is not None and (zeta.pending_lines, zeta.pending_units) == (1, 1)
    assert [status[0] if status else None for status in statuses] == ["cancelled", "pending", "pending"]


def statement_kinds(statements: list[str]) -> Counter[str]:
    """'INSERT purchase_orders', 'SELECT suppliers', ... of each statement (its verb and first table)."""
    kinds: Counter[str] = Counter()
    for statement in statements:
        words = statement.replace("(", " ").split()
        table = next(
            word for word, before in zip(words[1:], words, strict=False) if before in {"INTO", "FROM", "UPDATE"}
        )
        kinds[f"{words[0]} {table}"] += 1
    return kinds


async def test_a_batch_releasing_many_purchase_orders_writes_each_table_once(harness: Harness) -> None:
    """Six lines of three suppliers, each released alone on arrival: the suppliers' rows are locked in one
    statement and written in one, the POs, their lines and the released lines are written once each, the PO
    counter is taken once and moved once, and nothing the batch wrote is read back."""
    for supplier in ("acme", "zeta", "omega"):
        await harness.register_supplier(supplier, supplier)
        await harness.set_policy(supplier, {"max_wait_seconds": 3600, "min_units": 1})
    await harness.on_backorder_events([backorder("O0-1", supplier="acme")])  # the PO counter's row exists now
    lines = [(f"O{n}-1", ("acme", "zeta", "omega")[n % 3]) for n in range(1, 7)]
    harness.statements.clear()
    await harness.on_backorder_events([backorder(line_id, supplier=supplier) for line_id, supplier in lines])
    kinds = statement_kinds([s for s in harness.statements if not s.startswith("BEGIN")])
    assert kinds == {
        "SELECT suppliers": 1,
        "INSERT inbox": 1,
        "INSERT backorder_lines": 1,
        "UPDATE po_counter": 2,
        "INSERT purchase_orders": 1,
        "INSERT purchase_order_lines": 1,
        "UPDATE backorder_lines": 1,
        "UPDATE suppliers": 1,
        "INSERT outbox": 1,
    }, harness.statements
    requests = await harness.events("purchase_order.requested")
    assert [(r["po_number"], r["supplier_id"], r["lines"][0]["backorder_line_id"]) for r in requests[1:]] == [
        (f"PO{n + 1:08d}", supplier, line_id) for n, (line_id, supplier) in enumerate(lines, start=1)
    ]
    assert all(r["lines"][0]["ship_to"]["name"] == "Ann" for r in requests)
    await harness.on_backorder_events([backorder("O7-1", supplier="zeta")])  # numbering goes on from the row
    assert (await harness.events("purchase_order.requested"))[-1]["po_number"] == "PO00000008"
    async with harness.uow() as uow:
        po = await uow.purchase_orders.get("PO00000004")
        released = await uow.lines.status_of("O3-1")
    assert po is not None and [line["backorder_line_id"] for line in po["lines"]] == ["O3-1"]
    assert released == ("released", "PO00000004", 1, 1)


@pytest.mark.parametrize("restarted", [False, True], ids=["same process", "after a restart"])
async def test_a_release_reads_back_only_the_details_the_process_does_not_keep(
    harness: Harness, restarted: bool
) -> None:
    """Lines stored by earlier transactions of this process are released with the details it kept after their
    commit (no statement reads them back); after a restart, or beyond what is kept, they are read."""
    await configure(harness, min_units=3)
    await harness.on_backorder_events([backorder("O1-1")])
    await harness.on_backorder_events([backorder("O2-1")])
    if restarted:
        harness.restart()
    harness.statements.clear()
    await harness.on_backorder_events([backorder("O3-1")])
    details_read = [s for s in harness.statements if s.startswith("SELECT") and "backorder_lines.details" in s]
    assert len(details_read) == (1 if restarted else 0), harness.statements
    [request] = await harness.events("purchase_order.requested")
    assert [
        (line["backorder_line_id"], line["ship_to"]["name"], line["customer_ref"]) for line in request["lines"]
    ] == [
        ("O1-1", "Ann", "O1-1"),
        ("O2-1", "Ann", "O2-1"),
        ("O3-1", "Ann", "O3-1"),
    ]


def test_recent_line_details_keep_the_latest_and_hand_each_out_once() -> None:
    recent = RecentLineDetails(capacity=2)
    recent.remember({"L1": ({"customer_ref": "a"}, None), "L2": ({"customer_ref": "b"}, "00-t-s-01")})
    recent.remember({"L3": ({"customer_ref": "c"}, None)})  # L1, the oldest, goes
    assert recent.take(["L1", "L2"]) == {"L2": ({"customer_ref": "b"}, "00-t-s-01")}
    assert recent.take(["L2", "L3"]) == {"L3": ({"customer_ref": "c"}, None)}  # L2 was handed out


async def test_a_line_released_and_cancelled_in_one_batch_asks_the_supplier_to_cancel(harness: Harness) -> None:
    await configure(harness, min_units=1)
    await harness.on_backorder_events([backorder("O1-1", 2), cancellation("O1-1")])
    [request] = await harness.events("purchase_order.requested")
    [cancel] = await harness.events("purchase_order.cancel_requested")
    assert (cancel["po_number"], cancel["line_no"], cancel["quantity"]) == (request["po_number"], 1, 2)


def withdrawal(line_id: str, quantity: int = 2) -> Envelope:
    return Envelope.wrap(
        BackorderWithdrawalRequested(backorder_line_id=line_id, supplier_id="acme", quantity=quantity), "test"
    )


async def test_a_withdrawn_line_leaves_its_batch_unless_it_already_left(harness: Harness) -> None:
    await configure(harness, min_units=4)
    await harness.on_backorder_events([backorder("O1-1", 2)])
    await harness.on_backorder_events([withdrawal("O1-1")])
    await harness.on_backorder_events([withdrawal("O9-1")])  # before its backorder: that one is ignored
    await harness.on_backorder_events([backorder("O9-1", 2), backorder("O2-1", 2)])
    assert await harness.events("purchase_order.requested") == []  # 2 units pending, not 6
    await harness.on_backorder_events([backorder("O3-1", 2)])
    [request] = await harness.events("purchase_order.requested")
    assert [line["backorder_line_id"] for line in request["lines"]] == ["O2-1", "O3-1"]
    await harness.on_backorder_events([withdrawal("O3-1")])  # on its PO already
    answers = await harness.events("backorder.withdrawn")
    assert [(a["backorder_line_id"], a["withdrawn"]) for a in answers] == [
        ("O1-1", True),
        ("O9-1", True),
        ("O3-1", False),
    ]
    assert await harness.events("purchase_order.cancel_requested") == []


async def test_an_empty_batchs_first_line_wait_follows_the_fading_arrival_rate(harness: Harness) -> None:
    await configure(harness, min_units=20, max_wait_seconds=10 * 86400)
    await harness.on_backorder_events([backorder(f"O{n}-1", 5) for n in range(4)])
    assert len(await harness.events("purchase_order.requested")) == 1  # released: empty again
    waits = [e["first_line_wait_seconds"] for e in await harness.events("batch.release_expected")]
    assert waits[0] == 10 * 86400  # no arrivals seen yet: the max wait
    assert waits[-1] == pytest.approx(6 * 3600)  # 20 units at 20/6 units an hour (6-hour time constant)
    harness.clock.now = T0 + timedelta(hours=1)
    assert await harness.review_due_batches() == 1  # looked at again while a rate is observed
    harness.clock.now = T0 + timedelta(hours=40)
    await harness.review_due_batches()
    later = [e["first_line_wait_seconds"] for e in await harness.events("batch.release_expected")][len(waits) :]
    assert later[0] > 6 * 3600 and later[-1] == 10 * 86400  # the rate faded: back to the max wait
    harness.clock.now = T0 + timedelta(hours=42)
    assert await harness.review_due_batches() == 0  # the rate no longer matters: not looked at again


async def test_a_batch_below_its_minimum_is_released_when_the_fee_is_cheaper_than_waiting(harness: Harness) -> None:
    """No credits (a 5-day wait is within the 7-day consolation threshold): waiting costs lines x days x 1,
    less the share of arriving units that left; the fee of 12 wins once that exceeds it."""
    await configure(
        harness, min_units=100, max_wait_seconds=5 * 86400, small_order_fee="12", delay_cost_per_line_day="1"
    )
    await harness.on_backorder_events([backorder("O1-1"), backorder("O2-1")])  # 2 lines x 5 days = 10
    await harness.on_backorder_events([cancellation("O2-1")])
    harness.restart()  # the departures survive in the database
    await harness.on_backorder_events([backorder("O3-1"), backorder("O4-1")])  # 15 x (1 - 1/4) = 11.25
    assert await harness.events("purchase_order.requested") == []
    # 4 lines; 96 units short at 5/6 units an hour: 4.8 days; 4 x 4.8 x (1 - 1/5) = 15.36
    await harness.on_backorder_events([backorder("O5-1")])
    [request] = await harness.events("purchase_order.requested")
    assert request["release_reason"] == "fee_cheaper_than_waiting" and request["below_minimum"]
    assert [line["backorder_line_id"] for line in request["lines"]] == ["O1-1", "O3-1", "O4-1", "O5-1"]
    assert request["release_figures"] == {
        "lines": "4",
        "extra_days": "4.8000",
        "delay_cost_per_line_day": "1",
        "delay_cost": "19.20",
        "credits": "0.00",
        "cancellation_share": "0.2000",
        "waiting_cost": "15.36",
        "small_order_fee": "12",
    }
    async with harness.uow() as uow:
        stored = await uow.purchase_orders.get(request["po_number"])
    assert stored is not None and stored["release_figures"] == request["release_figures"]


async def test_the_periodic_check_releases_for_the_fee_when_the_fading_arrival_rate_makes_waiting_dearer(
    harness: Harness,
) -> None:
    """One line of 20 units, 80 short: at 20/6 units an hour the minimum is a day away (1 line-day at 10, under
    the fee of 30); as the rate fades the expected release moves later: 2.72 days after 6 hours, 3.21 after 7."""
    await configure(
        harness, min_units=100, max_wait_seconds=10 * 86400, small_order_fee="30", delay_cost_per_line_day="10"
    )
    await harness.on_backorder_events([backorder("O1-1", 20)])
    harness.clock.now = T0 + timedelta(minutes=59)
    assert await harness.review_due_batches() == 0  # looked at again hourly
    harness.clock.now = T0 + timedelta(hours=6)
    assert await harness.review_due_batches() == 1
    assert await harness.events("purchase_order.requested") == []
    harness.clock.now = T0 + timedelta(hours=7)
    assert await harness.review_due_batches() == 1
    [request] = await harness.events("purchase_order.requested")
    assert request["release_reason"] == "fee_cheaper_than_waiting" and request["release_figures"]["lines"] == "1"
    assert Decimal(request["release_figures"]["waiting_cost"]) > 30


async def test_a_partitioned_replica_keeps_only_the_batches_of_the_suppliers_it_consumes(harness: Harness) -> None:
    """Partitions (README "Replicas"): a batch stays in memory only while this replica is the active consumer of
    its supplier's partition; without it, or after losing its consumers, the lines are read back, and the
    decisions come out the same."""
    await configure(harness, min_units=10)
    cache = harness.batches = BatchCache(3600, partitioned=True)
    await harness.on_backorder_events([backorder("O1-1", 2)])
    assert not cache.is_kept("acme")  # not (yet) delivered from its partition: not this replica's to keep
    cache.own("acme")
    await harness.on_backorder_events([backorder("O2-1", 3)])
    assert cache.is_kept("acme")
    cache.forget_all()  # its connection was lost: another replica may be taking acme's events now
    assert not cache.is_kept("acme")
    await harness.on_backorder_events([backorder("O3-1", 5)])
    assert not cache.is_kept("acme")
    requests = await harness.events("purchase_order.requested")
    assert [[line["backorder_line_id"] for line in request["lines"]] for request in requests] == [
        ["O1-1", "O2-1", "O3-1"]
    ]
