"""Property tests: random backorders, cancellations and clock ticks against random policies."""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from aggregator.domain import (
    Cutoff,
    MinimumNotMetError,
    PendingBatch,
    PendingLine,
    PriceBreak,
    PurchaseOrderDraft,
    SkuRule,
    SupplierPolicy,
)
from aggregator.domain.schedule import latest_cutoff

SUPPLIER = "acme"
SKUS = ("A", "B", "C", "D")
START = datetime(2024, 3, 29, 22, 0, tzinfo=UTC)  # two days before the European spring DST change


@st.composite
def price_breaks(draw: st.DrawFn) -> tuple[PriceBreak, ...]:
    quantities = sorted(draw(st.sets(st.integers(1, 40), max_size=3)))
    costs = sorted(draw(st.lists(st.integers(1, 20), min_size=len(quantities), max_size=len(quantities))), reverse=True)
    return tuple(PriceBreak(q, Decimal(c)) for q, c in zip(quantities, costs, strict=True))


sku_rules = st.builds(
    SkuRule,
    min_qty=st.integers(0, 8),
    case_pack=st.sampled_from([1, 1, 2, 3, 6, 12]),
    remainder=st.sampled_from(["wait", "round_up"]),
    price_breaks=price_breaks(),
)

policies = st.builds(
    SupplierPolicy,
    supplier_id=st.just(SUPPLIER),
    min_units=st.integers(0, 40),
    min_value=st.integers(0, 400).map(Decimal),
    max_wait=st.integers(1, 30).map(lambda hours: timedelta(hours=hours)),
    on_deadline=st.sampled_from(["release", "escalate"]),
    sku_rules=st.dictionaries(st.sampled_from(SKUS), sku_rules, max_size=4),
    cutoff=st.none()
    | st.builds(
        Cutoff,
        local_time=st.sampled_from(["00:00", "02:30", "09:15", "14:00", "23:45"]),
        time_zone=st.sampled_from(["UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe"]),
    ),
    max_lines_per_po=st.none() | st.integers(2, 5),
    version=st.integers(1, 3),
)


class BatchingScheduler(RuleBasedStateMachine):
    """A scheduler driving one supplier's batch; a plain model keeps the books."""

    def __init__(self) -> None:
        super().__init__()
        self.batch = PendingBatch(SUPPLIER)
        self.policy = SupplierPolicy(supplier_id=SUPPLIER, max_wait=timedelta(hours=1))
        self.now = START
        self.next_id = 0
        self.added: dict[str, PendingLine] = {}
        self.cancelled: set[str] = set()
        self.released: Counter[str] = Counter()
        self.minimum_release_slots: list[datetime] = []

    @initialize(policy=policies)
    def choose_policy(self, policy: SupplierPolicy) -> None:
        self.policy = policy

    # -- what happens to the batch ------------------------------------------------

    @rule(
        sku=st.sampled_from(SKUS),
        quantity=st.integers(1, 9),
        cost=st.sampled_from(["0", "1.25", "4", "10", "33.33"]),
        late_by=st.sampled_from([timedelta(0), timedelta(0), timedelta(minutes=30), timedelta(hours=5)]),
    )
    def backorder(self, sku: str, quantity: int, cost: str, late_by: timedelta) -> None:
        self.add_line(sku, quantity, cost, late_by)
        self.schedule()

    @rule(
        burst=st.lists(st.tuples(st.sampled_from(SKUS), st.integers(1, 9), st.sampled_from(["1.25", "10"])), max_size=8)
    )
    def backorder_burst(self, burst: list[tuple[str, int, str]]) -> None:
        for sku, quantity, cost in burst:
            self.add_line(sku, quantity, cost, timedelta(0))
            self.schedule()

    def add_line(self, sku: str, quantity: int, cost: str, late_by: timedelta) -> None:
        line_id = f"L{self.next_id}"
        self.next_id += 1
        line = PendingLine(line_id, sku, f"our-{sku}", quantity, Decimal(cost), self.now - late_by, {"n": line_id})
        assert self.batch.add(line)
        self.added[line_id] = line

    @precondition(lambda self: bool(self.added))
    @rule(data=st.data())
    def duplicate_backorder(self, data: st.DataObject) -> None:
        line_id = data.draw(st.sampled_from(sorted(self.added)))
        pending = line_id in self.batch
        assert self.batch.add(self.added[line_id]) is False or not pending
        if not pending:
            # A redelivery after release or cancel is the service's inbox to stop; undo it here.
            self.batch.cancel(line_id)
        self.schedule()

    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        line_id = data.draw(st.sampled_from([*sorted(self.added), "unknown"]))
        was_pending = line_id in self.added and line_id not in self.cancelled and not self.released[line_id]
        assert self.batch.cancel(line_id) is was_pending
        if was_pending:
            self.cancelled.add(line_id)
        self.schedule()

    @rule(step=st.sampled_from([timedelta(minutes=7), timedelta(hours=1), timedelta(hours=5), timedelta(hours=26)]))
    def tick(self, step: timedelta) -> None:
        self.now += step
        self.schedule()

    @rule(now=st.integers(0, 3))
    def hold_or_resume(self, now: int) -> None:
        # Operators act rarely: most draws do nothing, so batches live long enough to age.
        if now == 0:
            self.batch.hold()
        elif now == 1:
            self.batch.resume()
        self.schedule()

    @precondition(lambda self: not self.batch.held)
    @rule(now=st.integers(0, 7))
    def operator_release(self, now: int) -> None:
        if now == 0:
            self.check_release(self.batch.release(self.policy, self.now, "operator"), "operator")
        self.schedule()

    # -- the scheduler, as the service runs it after every event and at next_check --------

    def schedule(self) -> None:
        for _ in range(3):
            decision = self.batch.decide(self.policy, self.now)
            if decision.next_check is not None:
                assert decision.next_check > self.now
            if decision.reason in ("below_minimum", "escalated"):
                self.check_minimum_really_not_met()
            if decision.action != "release":
                break
            if decision.reason == "minimum_met" and self.policy.cutoff is not None:
                self.minimum_release_slots.append(latest_cutoff(self.policy.cutoff, self.now))
            drafts = self.batch.release(self.policy, self.now, decision.release_reason)
            assert drafts, "a decided release must release something"
            self.check_release(drafts, decision.release_reason)
        self.check_no_line_waits_past_its_deadline()

    def check_release(self, drafts: list[PurchaseOrderDraft], reason: str) -> None:
        if not drafts:
            return
        units = sum(draft.total_units for draft in drafts)
        value = sum((draft.total_value for draft in drafts), Decimal(0))
        [(release_reason, below_minimum, parts)] = {(d.release_reason, d.below_minimum, d.parts) for d in drafts}
        assert (release_reason, parts) == (reason, len(drafts))
        if below_minimum:
            assert reason in ("deadline", "operator")
        else:
            assert units >= self.policy.min_units and value >= self.policy.min_value
        if parts == 1:
            assert below_minimum is not (units >= self.policy.min_units and value >= self.policy.min_value)
        release_per_sku: Counter[str] = Counter()
        for draft in drafts:
            if self.policy.max_lines_per_po is not None:
                assert len(draft.lines) <= self.policy.max_lines_per_po
            per_sku: Counter[str] = Counter()
            for po_line in draft.lines:
                per_sku[po_line.supplier_sku] += po_line.quantity
                if po_line.surplus:
                    assert po_line.backorder_line_id is None and po_line.quantity > 0
                else:
                    assert po_line.backorder_line_id is not None
                    original = self.added[po_line.backorder_line_id]
                    assert (po_line.quantity, po_line.supplier_sku, po_line.details) == (
                        original.quantity,
                        original.supplier_sku,
                        original.details,
                    )
                    self.released[po_line.backorder_line_id] += 1
                    assert po_line.backorder_line_id not in self.batch
            for supplier_sku, quantity in per_sku.items():
                sku_rule = self.policy.sku_rules.get(supplier_sku)
                if sku_rule is not None:
                    assert quantity % sku_rule.case_pack == 0, (supplier_sku, quantity, sku_rule)
            release_per_sku.update(per_sku)
        for supplier_sku, quantity in release_per_sku.items():
            sku_rule = self.policy.sku_rules.get(supplier_sku)
            if sku_rule is not None and reason == "minimum_met":
                assert quantity >= sku_rule.min_qty, "like the batch minimums, a SKU minimum holds per release"

    def check_minimum_really_not_met(self) -> None:
        """A batch waiting below minimum could not have released by minimum (a full recount)."""
        recount = PendingBatch(SUPPLIER, self.batch.lines)
        with contextlib.suppress(MinimumNotMetError):
            assert recount.release(self.policy, self.now, "minimum_met") == []

    def check_no_line_waits_past_its_deadline(self) -> None:
        overdue = [line for line in self.batch.lines if line.received_at + self.policy.max_wait <= self.now]
        if overdue:
            assert self.batch.escalated, "an overdue line must be released or its batch escalated"
            assert self.batch.held or self.policy.on_deadline == "escalate"

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def every_line_is_pending_released_once_or_cancelled(self) -> None:
        pending = {line.backorder_line_id for line in self.batch.lines}
        assert all(count == 1 for count in self.released.values())
        released = set(self.released)
        assert not (pending & released) and not (pending & self.cancelled) and not (released & self.cancelled)
        assert pending | released | self.cancelled == set(self.added)

    @invariant()
    def running_totals_match_a_recount(self) -> None:
        lines = self.batch.lines
        assert self.batch.line_count == len(lines)
        assert self.batch.total_units == sum(line.quantity for line in lines)
        assert self.batch.total_value == sum((line.quantity * line.unit_cost for line in lines), Decimal(0))
        for sku in SKUS:
            assert self.batch.sku_units(sku) == sum(line.quantity for line in lines if line.supplier_sku == sku)
        oldest = self.batch.oldest
        if lines:
            assert oldest is not None and oldest.received_at == min(line.received_at for line in lines)
        else:
            assert oldest is None

    @invariant()
    def a_cutoff_allows_one_release_by_minimum_per_slot(self) -> None:
        assert len(self.minimum_release_slots) == len(set(self.minimum_release_slots))


BatchingScheduler.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestBatchingScheduler = BatchingScheduler.TestCase


@settings(max_examples=300, deadline=None)
@given(
    policy=policies,
    lines=st.lists(
        st.tuples(st.sampled_from(SKUS), st.integers(1, 9), st.sampled_from(["0", "1.25", "10"])), max_size=12
    ),
)
def test_the_status_shown_is_the_decision_taken(policy: SupplierPolicy, lines: list[tuple[str, int, str]]) -> None:
    """One truth for progress: what the status says blocks a release is exactly what stops `decide` from
    releasing by minimum (before the deadline, no cut-off slot involved), and its figures are the ones a
    release by minimum orders (in one PO: a split by the line limit may add surplus per piece)."""
    policy = replace(policy, cutoff=None, max_lines_per_po=None)
    batch = PendingBatch(SUPPLIER)
    for n, (sku, quantity, cost) in enumerate(lines):
        batch.add(PendingLine(f"L{n}", sku, f"our-{sku}", quantity, Decimal(cost), START))
    progress = batch.progress(policy, START)
    decision = batch.decide(policy, START)
    assert (decision.action == "release") == progress.minimum_met == (progress.blocked_by == ())
    if progress.minimum_met:
        drafts = batch.release(policy, START, "minimum_met")
        assert sum(d.total_units for d in drafts) == progress.releasable_units
        assert sum((d.total_value for d in drafts), Decimal(0)) == progress.releasable_value
