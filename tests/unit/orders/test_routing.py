"""Routing a backordered line among a product's offers: examples and properties of the pure rule."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orders.domain.promise import PromiseRules
from orders.domain.routing import (
    BatchOutlook,
    Offer,
    RoutingError,
    RoutingPolicy,
    expected_release_with,
    route,
)

PLACED = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
RULES = PromiseRules(transit_days=2, default_batch_wait_days=3)
EARLIEST = RoutingPolicy("earliest_within_tolerance", tolerance_percent=Decimal(10))


def offer(supplier: str, cost: str, lead: int, priority: int = 0, **more: object) -> Offer:
    return Offer(supplier, f"{supplier}-sku", Decimal(cost), lead, priority, **more)  # type: ignore[arg-type]


def empty(supplier: str, wait_days: float = 6, min_units: int | None = 20) -> BatchOutlook:
    return BatchOutlook(supplier, min_units=min_units, first_line_wait=timedelta(days=wait_days))


def test_a_line_completing_a_batch_ships_before_the_same_line_joining_an_empty_one() -> None:
    nearly_full = BatchOutlook("acme", pending_units=18, min_units=20, expected_release_at=PLACED + timedelta(days=5))
    assert expected_release_with(nearly_full, 2, Decimal(1), PLACED, RULES) == PLACED
    assert expected_release_with(nearly_full, 1, Decimal(1), PLACED, RULES) == PLACED + timedelta(days=5)
    assert expected_release_with(empty("acme"), 2, Decimal(1), PLACED, RULES) == PLACED + timedelta(days=6)


def test_a_completed_batch_waits_for_the_cutoff_but_never_past_its_own_estimate() -> None:
    cutoff = PLACED + timedelta(hours=7)
    outlook = BatchOutlook(
        "acme",
        pending_units=18,
        min_units=20,
        expected_release_at=PLACED + timedelta(days=2),
        complete_release_at=cutoff,
    )
    assert expected_release_with(outlook, 5, Decimal(1), PLACED, RULES) == cutoff
    soon = BatchOutlook(
        "acme",
        pending_units=18,
        min_units=20,
        expected_release_at=PLACED + timedelta(hours=2),
        complete_release_at=cutoff,
    )
    assert expected_release_with(soon, 5, Decimal(1), PLACED, RULES) == PLACED + timedelta(hours=2)


def test_the_value_minimum_counts_the_line_at_the_offers_cost() -> None:
    outlook = BatchOutlook("acme", pending_value=Decimal(90), min_value=Decimal(100), first_line_wait=timedelta(days=4))
    assert expected_release_with(outlook, 2, Decimal(5), PLACED, RULES) == PLACED
    assert expected_release_with(outlook, 1, Decimal(5), PLACED, RULES) == PLACED + timedelta(days=4)


def test_without_a_word_from_the_aggregator_the_default_wait() -> None:
    assert expected_release_with(None, 1, Decimal(1), PLACED, RULES) == PLACED + timedelta(days=3)
    stale = BatchOutlook("acme", min_units=5, expected_release_at=PLACED - timedelta(days=1))
    assert expected_release_with(stale, 1, Decimal(1), PLACED, RULES) == PLACED + timedelta(days=3)


def test_earliest_within_tolerance_takes_the_dearer_offer_that_completes_a_batch() -> None:
    cheap, dear = offer("cheap", "10.00", 2), offer("dear", "10.80", 2)
    outlooks = {"cheap": empty("cheap"), "dear": BatchOutlook("dear", pending_units=19, min_units=20)}
    decision = route(1, [cheap, dear], outlooks, PLACED, EARLIEST, RULES)
    assert decision is not None
    assert decision.offer == dear
    assert decision.reason == "earliest_within_tolerance"
    assert decision.expected_delivery == date(2026, 6, 5)  # today + 2 lead + 2 transit
    assert decision.cheapest_cost == Decimal("10.00")
    [other, chosen] = decision.alternatives
    assert (chosen.outcome, chosen.completes_batch) == ("chosen", True)
    assert (other.offer, other.outcome, other.expected_delivery) == (cheap, "later", date(2026, 6, 11))


def test_an_offer_over_the_tolerance_is_not_taken_however_early() -> None:
    cheap, dear = offer("cheap", "10.00", 9), offer("dear", "11.01", 0)
    decision = route(1, [cheap, dear], {}, PLACED, EARLIEST, RULES)
    assert decision is not None and decision.offer == cheap
    assert [a.outcome for a in decision.alternatives] == ["chosen", "over_tolerance"]


def test_with_a_delay_cost_an_earlier_offer_must_be_worth_its_premium() -> None:
    slow, fast = offer("slow", "40.00", 8), offer("fast", "44.00", 1)  # 7 days sooner for 4.00 more
    worth = RoutingPolicy(tolerance_percent=Decimal(15), delay_cost_per_line_day=Decimal("1.00"))
    decision = route(1, [slow, fast], {}, PLACED, worth, RULES)
    assert decision is not None and decision.offer == fast
    assert [a.cost_with_delay for a in decision.alternatives] == [Decimal(53), Decimal(50)]  # 40 + 13 d, 44 + 6 d
    not_worth = RoutingPolicy(tolerance_percent=Decimal(15), delay_cost_per_line_day=Decimal("0.50"))
    decision = route(1, [slow, fast], {}, PLACED, not_worth, RULES)
    assert decision is not None and decision.offer == slow
    assert [a.outcome for a in decision.alternatives] == ["chosen", "premium_over_delay_cost"]
    assert decision.as_record()["delay_cost_per_line_day"] == "0.50"
    capped = RoutingPolicy(tolerance_percent=Decimal(5), delay_cost_per_line_day=Decimal(100))
    decision = route(1, [slow, fast], {}, PLACED, capped, RULES)
    assert decision is not None and decision.offer == slow  # the tolerance still caps what speed may cost


def test_cheapest_within_promise_and_the_earliest_when_none_is_in_time() -> None:
    fast, slow = offer("fast", "12", 1), offer("slow", "10", 6)
    in_time = RoutingPolicy("cheapest_within_promise", promise_days=12)
    decision = route(3, [fast, slow], {}, PLACED, in_time, RULES)
    assert decision is not None and (decision.offer, decision.reason) == (slow, "cheapest_within_promise")
    assert decision.line_cost == Decimal(30)
    assert [a.outcome for a in decision.alternatives] == ["dearer", "chosen"]
    tight = RoutingPolicy("cheapest_within_promise", promise_days=7)
    decision = route(3, [fast, slow], {}, PLACED, tight, RULES)
    assert decision is not None and (decision.offer, decision.reason) == (fast, "cheapest_within_promise")
    assert [a.outcome for a in decision.alternatives] == ["chosen", "beyond_promise"]
    none = RoutingPolicy("cheapest_within_promise", promise_days=2)
    decision = route(3, [fast, slow], {}, PLACED, none, RULES)
    assert decision is not None and (decision.offer, decision.reason) == (fast, "earliest_none_within_promise")


def test_inactive_and_tried_offers_are_listed_but_never_chosen() -> None:
    first, second, off = offer("first", "10", 1), offer("second", "10", 1, 1), offer("off", "1", 0, active=False)
    decision = route(1, [first, second, off], {}, PLACED, EARLIEST, RULES, tried=frozenset({"first"}))
    assert decision is not None and decision.offer == second
    outcomes = {a.offer.supplier_id: (a.outcome, a.expected_delivery) for a in decision.alternatives}
    assert outcomes == {
        "second": ("chosen", date(2026, 6, 7)),
        "first": ("already_tried", None),
        "off": ("inactive", None),
    }
    assert route(1, [first, off], {}, PLACED, EARLIEST, RULES, tried=frozenset({"first"})) is None
    assert route(1, [], {}, PLACED, EARLIEST, RULES) is None


def test_ties_go_to_the_cheaper_then_priority_then_supplier_id() -> None:
    a, b, c = offer("b-supplier", "10", 2, 1), offer("a-supplier", "10", 2, 1), offer("c-supplier", "10", 2, 0)
    decision = route(1, [a, b, c], {}, PLACED, EARLIEST, RULES)
    assert decision is not None and decision.offer == c
    decision = route(1, [a, b], {}, PLACED, EARLIEST, RULES)
    assert decision is not None and decision.offer == b
    assert [x.outcome for x in decision.alternatives] == ["lost_tie", "chosen"]
    cheaper = offer("z-supplier", "9.50", 2, 5)
    decision = route(1, [a, b, c, cheaper], {}, PLACED, EARLIEST, RULES)
    assert decision is not None and decision.offer == cheaper


def test_the_record_is_json_able_and_carries_the_numbers() -> None:
    import json

    decision = route(2, [offer("acme", "4.25", 3), offer("zeta", "9", 0)], {}, PLACED, EARLIEST, RULES)
    assert decision is not None
    record = json.loads(json.dumps(decision.as_record()))
    assert record["supplier_id"] == "acme"
    assert record["line_cost"] == "8.50"
    assert record["expected_delivery"] == "2026-06-09"
    assert record["mode"] == "earliest_within_tolerance"
    assert [a["outcome"] for a in record["alternatives"]] == ["chosen", "over_tolerance"]
    assert record["alternatives"][1]["expected_delivery"] == "2026-06-06"


@pytest.mark.parametrize(
    "build",
    [
        lambda: Offer("", "x", Decimal(1), 1),
        lambda: Offer("s", "x", Decimal(-1), 1),
        lambda: Offer("s", "x", Decimal(1), -1),
        lambda: Offer("s", "x", Decimal(1), 1, small_order_fee=Decimal(-5)),
        lambda: RoutingPolicy("fastest"),  # type: ignore[arg-type]
        lambda: RoutingPolicy(tolerance_percent=Decimal(-1)),
        lambda: RoutingPolicy(promise_days=-1),
        lambda: RoutingPolicy(delay_cost_per_line_day=Decimal(-1)),
        lambda: route(0, [offer("s", "1", 1)], {}, PLACED, EARLIEST, RULES),
    ],
)
def test_bad_offers_and_policies_are_refused(build: object) -> None:
    with pytest.raises(RoutingError):
        build()  # type: ignore[operator]


# -- properties -------------------------------------------------------------------------------------------------

SUPPLIERS = ["s1", "s2", "s3", "s4", "s5"]
offers_st = st.lists(
    st.builds(
        Offer,
        supplier_id=st.sampled_from(SUPPLIERS),
        supplier_sku=st.just("sku"),
        unit_cost=st.integers(0, 2000).map(lambda cents: Decimal(cents) / 100),
        lead_time_days=st.integers(0, 15),
        priority=st.integers(0, 3),
        active=st.booleans(),
    ),
    max_size=6,
    unique_by=lambda o: o.supplier_id,
)
outlook_st = st.builds(
    BatchOutlook,
    supplier_id=st.just("?"),
    pending_units=st.integers(0, 40),
    pending_value=st.integers(0, 400).map(Decimal),
    min_units=st.none() | st.integers(0, 50),
    min_value=st.none() | st.integers(0, 500).map(Decimal),
    expected_release_at=st.none() | st.integers(-48, 20 * 24).map(lambda h: PLACED + timedelta(hours=h)),
    first_line_wait=st.none() | st.integers(0, 20 * 24).map(lambda h: timedelta(hours=h)),
    complete_release_at=st.none() | st.integers(0, 30).map(lambda h: PLACED + timedelta(hours=h)),
)
outlooks_st = st.dictionaries(st.sampled_from(SUPPLIERS), outlook_st)
policy_st = st.builds(
    RoutingPolicy,
    mode=st.sampled_from(["earliest_within_tolerance", "cheapest_within_promise"]),
    tolerance_percent=st.integers(0, 50).map(Decimal),
    promise_days=st.integers(0, 30),
    delay_cost_per_line_day=st.none() | st.integers(0, 500).map(lambda cents: Decimal(cents) / 100),
)
tried_st = st.frozensets(st.sampled_from(SUPPLIERS), max_size=3)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 20), offers_st, outlooks_st, policy_st, tried_st)
def test_routing_properties(
    quantity: int,
    offers: list[Offer],
    outlooks: dict[str, BatchOutlook],
    policy: RoutingPolicy,
    tried: frozenset[str],
) -> None:
    decision = route(quantity, offers, outlooks, PLACED, policy, RULES, tried)
    eligible = [o for o in offers if o.active and o.supplier_id not in tried]
    if not eligible:
        assert decision is None
        return
    assert decision is not None
    assert decision.offer.active and decision.offer.supplier_id not in tried
    assert len(decision.alternatives) == len(offers)
    assert [a.outcome for a in decision.alternatives].count("chosen") == 1
    # deterministic, whatever the order the offers come in
    again = route(quantity, list(reversed(offers)), outlooks, PLACED, policy, RULES, tried)
    assert again is not None and again.offer == decision.offer
    assert again.expected_delivery == decision.expected_delivery
    weighed = {a.offer.supplier_id: a for a in decision.alternatives if a.expected_delivery is not None}
    assert set(weighed) == {o.supplier_id for o in eligible}
    cheapest = min(o.line_cost(quantity) for o in eligible)
    assert decision.cheapest_cost == cheapest
    if policy.mode == "earliest_within_tolerance":
        limit = cheapest * (100 + policy.tolerance_percent) / 100
        assert decision.line_cost <= limit
        delay = policy.delay_cost_per_line_day
        chosen = weighed[decision.offer.supplier_id]
        for alternative in weighed.values():
            if alternative.line_cost > limit:
                continue
            assert alternative.expected_delivery is not None
            if delay is None:  # no other offer within the tolerance is earlier
                assert alternative.expected_delivery >= decision.expected_delivery
            else:  # none is cheaper once its days are costed; an earlier one lost on its premium
                assert alternative.cost_with_delay is not None and chosen.cost_with_delay is not None
                assert alternative.cost_with_delay >= chosen.cost_with_delay
                if alternative.expected_delivery < decision.expected_delivery:
                    assert alternative.outcome == "premium_over_delay_cost"
    else:
        by_date = PLACED.date() + timedelta(days=policy.promise_days)
        in_time = [a for a in weighed.values() if a.expected_delivery and a.expected_delivery <= by_date]
        if in_time:
            assert decision.expected_delivery <= by_date
            assert decision.line_cost == min(a.line_cost for a in in_time)
        else:
            assert decision.expected_delivery == min(a.expected_delivery for a in weighed.values())  # type: ignore[type-var]


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 20),
    st.integers(0, 2000).map(lambda cents: Decimal(cents) / 100),
    outlook_st,
    st.integers(1, 20 * 24).map(lambda h: timedelta(hours=h)),
)
def test_completing_a_batch_never_ships_later_than_joining_an_empty_one(
    quantity: int, unit_cost: Decimal, outlook: BatchOutlook, empty_wait: timedelta
) -> None:
    """A line that completes a batch leaves no later than the same line would from the same supplier's empty
    batch (which it cannot complete): with a deadline no earlier than the cut-off, strictly earlier."""
    if not outlook.completed_by(quantity, unit_cost):
        return
    completing = expected_release_with(outlook, quantity, unit_cost, PLACED, RULES)
    empty_batch = BatchOutlook(
        "?",
        min_units=quantity + 1,
        first_line_wait=empty_wait,
        complete_release_at=outlook.complete_release_at,
    )
    joining = expected_release_with(empty_batch, quantity, unit_cost, PLACED, RULES)
    assert completing <= max(PLACED, outlook.complete_release_at or PLACED)
    if empty_wait > (outlook.complete_release_at or PLACED) - PLACED:
        assert completing < joining
