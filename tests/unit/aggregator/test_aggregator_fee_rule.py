"""The small-order fee rule: a batch below its minimum is released when the fee is cheaper than waiting."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from aggregator_domain_factories import SUPPLIER, T0, line, policy
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.adapters.policy_codec import policy_from_json, policy_to_json
from aggregator.domain import ArrivalRate, PendingBatch, PendingLine, PolicyError, SupplierPolicy
from aggregator.domain.arrival import leaving_share
from aggregator.domain.waiting import ConsolationTerms, WaitingOutlook, waiting_cost

DAY = timedelta(days=1)


def fee_policy(fee: str | None, delay: str = "1", **more: object) -> SupplierPolicy:
    values: dict[str, object] = {"min_units": 10, "max_wait": 2 * DAY, **more}
    return policy(
        small_order_fee=None if fee is None else Decimal(fee), delay_cost_per_line_day=Decimal(delay), **values
    )


def two_lines() -> PendingBatch:
    return PendingBatch(SUPPLIER, [line("a", 1, cost="50"), line("b", 1, cost="50")])


def test_waiting_costs_lines_times_days_times_delay_cost_and_the_fee_wins_only_when_cheaper() -> None:
    batch = two_lines()
    # No arrivals observed: the batch waits for its deadline, two days away; 2 lines x 2 days x 1 = 4.
    assert batch.decide(fee_policy("5"), T0).action == "wait"
    assert batch.decide(fee_policy("4"), T0).action == "wait"  # a tie waits: the fee must be cheaper
    decision = batch.decide(fee_policy("3.99"), T0)
    assert (decision.action, decision.reason) == ("release", "fee_cheaper_than_waiting")
    assert decision.figures is not None
    assert decision.figures.as_record() == {
        "lines": "2",
        "extra_days": "2.0000",
        "delay_cost_per_line_day": "1",
        "delay_cost": "4.00",
        "credits": "0.00",
        "cancellation_share": "0.0000",
        "waiting_cost": "4.00",
        "small_order_fee": "3.99",
    }


def test_a_release_for_the_fee_takes_every_line_below_the_minimum() -> None:
    batch = two_lines()
    drafts = batch.release(fee_policy("1"), T0, "fee_cheaper_than_waiting")
    assert [d.release_reason for d in drafts] == ["fee_cheaper_than_waiting"]
    assert drafts[0].below_minimum and drafts[0].backorder_line_ids == ("a", "b")
    assert batch.line_count == 0


def test_the_horizon_is_the_expected_release_from_the_arrival_rate() -> None:
    batch = two_lines()  # 8 units short; at 8 units an hour the minimum is met in one hour
    outlook = WaitingOutlook(arrival_rate_units_per_hour=8.0)
    cost = batch.waiting_cost(fee_policy("1", delay="24"), T0, outlook)
    assert cost is not None and cost.extra_days == pytest.approx(1 / 24)
    assert cost.waiting_cost == pytest.approx(Decimal(2))
    assert batch.decide(fee_policy("2.5", delay="24"), T0, outlook).action == "wait"
    assert batch.decide(fee_policy("1.5", delay="24"), T0, outlook).reason == "fee_cheaper_than_waiting"


def test_a_wait_beyond_the_consolation_threshold_counts_the_credits() -> None:
    batch = two_lines()  # value 100; 10% = 10 of credits when the wait exceeds one day
    outlook = WaitingOutlook(consolation=ConsolationTerms(threshold_days=1, percent=Decimal(10)))
    cost = batch.waiting_cost(fee_policy("0", delay="0"), T0, outlook)
    assert cost is not None and cost.credits == Decimal(10) and cost.waiting_cost == Decimal(10)
    assert batch.decide(fee_policy("9", delay="0"), T0, outlook).reason == "fee_cheaper_than_waiting"
    later = WaitingOutlook(consolation=ConsolationTerms(threshold_days=2, percent=Decimal(10)))
    assert batch.decide(fee_policy("0", delay="0"), T0, later).action == "wait"  # two days is no slip beyond two


def test_the_share_of_waiting_units_that_leave_reduces_the_cost_of_waiting() -> None:
    batch = two_lines()
    outlook = WaitingOutlook(cancellation_share=0.5)
    cost = batch.waiting_cost(fee_policy("3"), T0, outlook)
    assert cost is not None and cost.waiting_cost == Decimal(2)
    assert batch.decide(fee_policy("3"), T0, outlook).action == "wait"
    assert batch.decide(fee_policy("3"), T0).reason == "fee_cheaper_than_waiting"


def test_no_fee_rule_without_a_fee_when_held_or_past_an_escalated_deadline() -> None:
    batch = two_lines()
    assert batch.waiting_cost(fee_policy(None, delay="1000"), T0, WaitingOutlook()) is None
    assert batch.decide(fee_policy(None, delay="1000"), T0).action == "wait"
    held = PendingBatch(SUPPLIER, [line("a")], held=True)
    assert held.decide(fee_policy("0"), T0).action == "wait"
    escalating = fee_policy("0", on_deadline="escalate")
    assert batch.decide(escalating, T0 + 3 * DAY).action == "escalate"
    assert batch.waiting_cost(escalating, T0 + 3 * DAY, WaitingOutlook()) is None


def test_the_fee_and_the_delay_cost_are_validated_and_stored() -> None:
    with pytest.raises(PolicyError, match="small_order_fee"):
        fee_policy("-1")
    with pytest.raises(PolicyError, match="delay_cost_per_line_day"):
        fee_policy("1", delay="NaN")
    stored = policy_to_json(fee_policy("12.50", delay="0.75"))
    assert stored["small_order_fee"] == "12.50" and stored["delay_cost_per_line_day"] == "0.75"
    again = policy_from_json(SUPPLIER, 1, stored)
    assert again.small_order_fee == Decimal("12.50") and again.delay_cost_per_line_day == Decimal("0.75")
    assert policy_from_json(SUPPLIER, 1, {"max_wait_seconds": 60}).small_order_fee is None


def test_the_leaving_share_is_departures_over_arrivals_decayed_alike() -> None:
    arrivals, departures = ArrivalRate(), ArrivalRate()
    assert leaving_share(arrivals, departures, T0) == 0.0
    arrivals.record(4, T0)
    departures.record(1, T0 + timedelta(hours=1))
    assert leaving_share(arrivals, departures, T0 + timedelta(hours=2)) == pytest.approx(
        1 / (4 * math.exp(-1 / 6)), rel=1e-9
    )


# -- properties --------------------------------------------------------------------------------------------

quantities = st.lists(st.integers(1, 9), min_size=1, max_size=12)
money = st.integers(0, 10_000).map(lambda cents: Decimal(cents) / 100)
outlooks = st.builds(
    WaitingOutlook,
    arrival_rate_units_per_hour=st.floats(0, 50),
    cancellation_share=st.floats(0, 1),
    consolation=st.builds(ConsolationTerms, st.integers(0, 10), st.integers(0, 30).map(Decimal)),
)


def batch_of(sizes: list[int], spacing: int) -> PendingBatch:
    return PendingBatch(
        SUPPLIER,
        [line(f"l{i}", q, cost=str(1 + i), at=T0 + timedelta(minutes=i * spacing)) for i, q in enumerate(sizes)],
    )


@settings(max_examples=200, deadline=None)
@given(quantities, st.integers(0, 120), money, st.integers(0, 80), outlooks, st.integers(0, 72))
def test_never_released_for_the_fee_without_a_fee(
    sizes: list[int], spacing: int, delay: Decimal, min_units: int, outlook: WaitingOutlook, hours: int
) -> None:
    batch = batch_of(sizes, spacing)
    rules = policy(min_units=min_units, max_wait=2 * DAY, delay_cost_per_line_day=delay)
    decision = batch.decide(rules, T0 + timedelta(hours=hours), outlook)
    assert decision.reason != "fee_cheaper_than_waiting" and decision.figures is None


@settings(max_examples=200, deadline=None)
@given(quantities, st.integers(0, 120), money.filter(lambda d: d > 0), st.floats(0, 50), st.integers(0, 47))
def test_a_zero_fee_with_any_delay_cost_releases_a_non_empty_batch_at_once(
    sizes: list[int], spacing: int, delay: Decimal, rate: float, hours: int
) -> None:
    batch = batch_of(sizes, spacing)
    rules = policy(min_units=1000, max_wait=3 * DAY, small_order_fee=Decimal(0), delay_cost_per_line_day=delay)
    decision = batch.decide(rules, T0 + timedelta(hours=hours), WaitingOutlook(arrival_rate_units_per_hour=rate))
    assert (decision.action, decision.reason) == ("release", "fee_cheaper_than_waiting")


@settings(max_examples=200, deadline=None)
@given(quantities, st.integers(0, 120), money, money, money, outlooks, st.integers(0, 80), st.integers(0, 47))
def test_the_decision_is_monotonic_in_the_fee(
    sizes: list[int],
    spacing: int,
    fee_a: Decimal,
    fee_b: Decimal,
    delay: Decimal,
    outlook: WaitingOutlook,
    min_units: int,
    hours: int,
) -> None:
    """A fee that releases the batch also releases it at any lower fee; a fee that waits, at any higher."""
    low, high = sorted((fee_a, fee_b))
    now = T0 + timedelta(hours=hours)

    def for_fee(fee: Decimal) -> bool:
        rules = policy(min_units=min_units, max_wait=2 * DAY, small_order_fee=fee, delay_cost_per_line_day=delay)
        return batch_of(sizes, spacing).decide(rules, now, outlook).reason == "fee_cheaper_than_waiting"

    assert for_fee(low) or not for_fee(high)


operations = st.lists(
    st.tuples(st.sampled_from(["add", "cancel", "release"]), st.integers(1, 9), st.integers(0, 600)),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(operations, money, outlooks)
def test_the_running_totals_equal_a_recomputation_from_scratch(
    steps: list[tuple[str, int, int]], delay: Decimal, outlook: WaitingOutlook
) -> None:
    """After any backorders, cancellations and releases, the figures from the running totals are those
    computed from the pending lines, and the decayed departures those of every departure, summed afresh."""
    rules = policy(min_units=10_000, max_wait=30 * DAY, small_order_fee=Decimal(1), delay_cost_per_line_day=delay)
    batch = PendingBatch(SUPPLIER)
    departures = ArrivalRate()
    departed: list[tuple[int, datetime]] = []
    pending: dict[str, PendingLine] = {}
    now = T0
    for number, (kind, quantity, minutes) in enumerate(steps):
        now += timedelta(minutes=minutes)
        if kind == "add":
            new = line(f"l{number}", quantity, cost=str(quantity), at=now)
            batch.add(new)
            pending[new.backorder_line_id] = new
        elif kind == "cancel" and pending:
            gone = pending.pop(sorted(pending)[quantity % len(pending)])
            assert batch.cancel(gone.backorder_line_id)
            departures.record(gone.quantity, now)
            departed.append((gone.quantity, now))
        elif kind == "release" and pending:
            batch.release(rules, now, "fee_cheaper_than_waiting")
            pending.clear()
    cost = batch.waiting_cost(rules, now, outlook)
    if not pending:
        assert cost is None
    else:
        oldest = min(entry.received_at for entry in pending.values())
        expected_at = batch.expected_release_at(rules, now, outlook.arrival_rate_units_per_hour)
        horizon = expected_at if expected_at is not None else oldest + rules.max_wait
        assert cost == waiting_cost(
            lines=len(pending),
            value=sum((entry.value for entry in pending.values()), Decimal(0)),
            extra_seconds=(horizon - now).total_seconds(),
            small_order_fee=Decimal(1),
            delay_cost_per_line_day=delay,
            outlook=outlook,
        )
    tau = departures.time_constant
    fresh = sum(q * math.exp(-(now - at) / tau) for q, at in departed)
    assert departures.per_hour(now) == pytest.approx(fresh * (timedelta(hours=1) / tau), rel=1e-9, abs=1e-12)
