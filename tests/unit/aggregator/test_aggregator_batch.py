"""The pending batch: running totals, minimums, case packs, tiers, deadlines, hold and progress."""

from __future__ import annotations

import gc
import tracemalloc
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from aggregator_domain_factories import SUPPLIER, T0, line, policy

from aggregator.domain import (
    BatchHeldError,
    InvalidLineError,
    MinimumNotMetError,
    PendingBatch,
    PendingLine,
    PriceBreak,
    PurchaseOrderDraft,
    SkuRule,
    SupplierMismatchError,
    SupplierPolicy,
)

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def batch_of(*lines: object) -> PendingBatch:
    batch = PendingBatch(SUPPLIER)
    for item in lines:
        assert isinstance(item, type(line("x")))
        batch.add(item)
    return batch


def by_id(drafts: list[PurchaseOrderDraft]) -> dict[str | None, int]:
    return {po_line.backorder_line_id: po_line.quantity for draft in drafts for po_line in draft.lines}


# -- adding and cancelling ----------------------------------------------------


def test_adding_and_cancelling_keep_running_totals() -> None:
    batch = batch_of(line("a", 2, cost="5"), line("b", 3, supplier_sku="S-2", cost="1.5"))
    assert (batch.line_count, batch.total_units, batch.total_value) == (2, 5, Decimal("14.5"))
    assert batch.sku_units("S-1") == 2
    assert batch.cancel("a") is True
    assert (batch.line_count, batch.total_units, batch.total_value) == (1, 3, Decimal("4.5"))
    assert batch.sku_units("S-1") == 0


def test_a_duplicate_add_and_an_unknown_or_repeated_cancel_change_nothing() -> None:
    batch = batch_of(line("a", 2))
    assert batch.add(line("a", 7)) is False
    assert batch.cancel("nope") is False
    assert batch.cancel("a") is True
    assert batch.cancel("a") is False
    assert batch.total_units == 0 and batch.oldest is None


def test_the_oldest_line_is_found_even_when_lines_arrive_out_of_order() -> None:
    batch = batch_of(line("a", at=T0), line("b", at=T0 + HOUR), line("late", at=T0 - HOUR))
    assert batch.oldest is not None and batch.oldest.backorder_line_id == "late"
    batch.cancel("late")
    assert batch.oldest is not None and batch.oldest.backorder_line_id == "a"
    batch.cancel("a")
    assert batch.oldest is not None and batch.oldest.backorder_line_id == "b"


def test_a_cancelled_then_re_added_line_is_the_newest() -> None:
    batch = batch_of(line("a", at=T0), line("b", at=T0 + HOUR))
    batch.cancel("a")
    batch.add(line("a", at=T0 + 2 * HOUR))
    assert batch.oldest is not None and batch.oldest.backorder_line_id == "b"


def test_lines_of_one_cost_share_its_decimal_which_keeps_its_digits() -> None:
    assert line("a", cost="4.25").unit_cost is line("b", cost="4.25").unit_cost
    assert str(line("c", cost="4.250").unit_cost) == "4.250"
    assert str(line("d", cost="4.25").unit_cost) == "4.25"


def test_a_pending_line_costs_its_batch_at_most_400_bytes() -> None:
    """Issue 10's budget: 100k pending lines within the aggregator's 200 MB. Counted are the line, its id and
    time (one per line, as read from the database) and the batch's indexes over it; it was 600 bytes with a
    Decimal per line, an entry and a queue tuple per line and an OrderedDict per SKU."""
    count = 20_000
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        batch = PendingBatch(SUPPLIER)
        for n in range(count):
            batch.add(
                PendingLine(
                    backorder_line_id=f"a1b2c3-bl{n}",
                    supplier_sku=f"S-{n % 7}",
                    sku=f"our-S-{n % 7}",
                    quantity=1 + n % 3,
                    unit_cost=Decimal("4.25"),
                    received_at=T0 + timedelta(microseconds=n),
                )
            )
        gc.collect()
        per_line = (tracemalloc.get_traced_memory()[0] - before) / count
    finally:
        tracemalloc.stop()
    assert batch.line_count == count
    assert per_line <= 400, f"{per_line:.0f} bytes per pending line"


def test_bad_lines_and_naive_clocks_are_refused() -> None:
    with pytest.raises(InvalidLineError):
        line("a", 0)
    with pytest.raises(InvalidLineError):
        line("a", at=datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="timezone-aware"):
        batch_of(line("a")).decide(policy(), datetime(2024, 1, 1))


def test_another_suppliers_policy_is_refused() -> None:
    other = SupplierPolicy(supplier_id="globex", max_wait=HOUR)
    with pytest.raises(SupplierMismatchError):
        batch_of(line("a")).decide(other, T0)


# -- minimums -------------------------------------------------------------------


def test_below_minimum_units_waits_until_the_deadline() -> None:
    rules = policy(min_units=10, max_wait=48 * HOUR)
    batch = batch_of(line("a", 4), line("b", 5, at=T0 + HOUR))
    decision = batch.decide(rules, T0 + HOUR)
    assert (decision.action, decision.reason, decision.next_check) == ("wait", "below_minimum", T0 + 48 * HOUR)


def test_meeting_minimum_units_releases_one_po_line_per_backorder_line() -> None:
    rules = policy(min_units=10)
    batch = batch_of(line("a", 4), line("b", 6, details={"ship_to": "Ada"}))
    decision = batch.decide(rules, T0)
    assert (decision.action, decision.release_reason) == ("release", "minimum_met")
    [draft] = batch.release(rules, T0, decision.release_reason)
    assert by_id([draft]) == {"a": 4, "b": 6}
    assert draft.lines[1].details == {"ship_to": "Ada"}
    assert (draft.release_reason, draft.below_minimum, draft.total_units) == ("minimum_met", False, 10)
    assert batch.line_count == 0 and batch.total_units == 0 and batch.total_value == 0


def test_minimum_value_is_the_batch_total_not_per_line() -> None:
    rules = policy(min_value="100")
    batch = batch_of(line("a", 3, cost="20"), line("b", 2, cost="19.99", supplier_sku="S-2"))
    assert batch.decide(rules, T0).action == "wait"
    batch.add(line("c", 1, cost="0.02", supplier_sku="S-3"))
    assert batch.decide(rules, T0).reason == "minimum_met"


def test_both_minimums_must_be_met() -> None:
    rules = policy(min_units=5, min_value="100")
    batch = batch_of(line("a", 5, cost="10"))
    assert batch.decide(rules, T0).action == "wait"
    batch.add(line("b", 1, cost="50"))
    assert batch.decide(rules, T0).reason == "minimum_met"


def test_a_release_by_minimum_that_is_not_met_is_refused() -> None:
    batch = batch_of(line("a", 1))
    with pytest.raises(MinimumNotMetError):
        batch.release(policy(min_units=2), T0, "minimum_met")
    assert batch.line_count == 1


def test_without_minimums_any_line_is_released_at_once() -> None:
    batch = batch_of(line("a", 1))
    assert batch.decide(policy(), T0).reason == "minimum_met"


def test_an_empty_batch_waits_for_nothing() -> None:
    decision = PendingBatch(SUPPLIER).decide(policy(min_units=1), T0)
    assert (decision.action, decision.reason, decision.next_check) == ("wait", "empty", None)


# -- case packs -------------------------------------------------------------------


def test_round_up_adds_a_surplus_line_for_the_merchants_warehouse() -> None:
    rules = policy(sku_rules={"S-1": SkuRule(case_pack=6, remainder="round_up")})
    batch = batch_of(line("a", 4), line("b", 3))
    [draft] = batch.release(rules, T0, batch.decide(rules, T0).release_reason)
    surplus = draft.lines[-1]
    assert (surplus.backorder_line_id, surplus.surplus, surplus.quantity, surplus.details) == (None, True, 5, {})
    assert draft.total_units == 12


def test_round_up_surplus_counts_toward_the_po_minimums() -> None:
    rules = policy(min_units=12, sku_rules={"S-1": SkuRule(case_pack=6, remainder="round_up")})
    batch = batch_of(line("a", 4), line("b", 3))
    assert batch.decide(rules, T0).reason == "minimum_met"


def test_wait_releases_only_the_oldest_lines_that_fill_whole_case_packs() -> None:
    rules = policy(sku_rules={"S-1": SkuRule(case_pack=6, remainder="wait")})
    batch = batch_of(line("a", 2), line("b", 4), line("c", 3))
    [draft] = batch.release(rules, T0, batch.decide(rules, T0).release_reason)
    assert by_id([draft]) == {"a": 2, "b": 4}
    assert [pending.backorder_line_id for pending in batch.lines] == ["c"]


def test_wait_never_lets_a_younger_line_overtake_an_older_one() -> None:
    rules = policy(sku_rules={"S-1": SkuRule(case_pack=6, remainder="wait")})
    batch = batch_of(line("a", 4), line("b", 4), line("c", 2))
    assert batch.decide(rules, T0).reason == "below_minimum"
    batch.add(line("d", 2))
    assert by_id(batch.release(rules, T0, batch.decide(rules, T0).release_reason)) == {"a": 4, "b": 4, "c": 2, "d": 2}


def test_a_cancel_changes_what_fills_the_case_packs() -> None:
    rules = policy(sku_rules={"S-1": SkuRule(case_pack=6, remainder="wait")})
    batch = batch_of(line("a", 1), line("b", 5), line("c", 4))
    assert batch.decide(rules, T0).reason == "minimum_met"
    batch.cancel("a")
    assert batch.decide(rules, T0).reason == "below_minimum"
    batch.add(line("d", 3))
    assert by_id(batch.release(rules, T0, batch.decide(rules, T0).release_reason)) == {"b": 5, "c": 4, "d": 3}


def test_wait_rounds_up_at_the_deadline_since_the_supplier_sells_nothing_else() -> None:
    rules = policy(max_wait=HOUR, sku_rules={"S-1": SkuRule(case_pack=6, remainder="wait")})
    batch = batch_of(line("a", 4))
    decision = batch.decide(rules, T0 + HOUR)
    assert decision.reason == "deadline"
    [draft] = batch.release(rules, T0 + HOUR, decision.release_reason)
    assert by_id([draft]) == {"a": 4, None: 2}
    assert draft.below_minimum is False


# -- price tiers and per-SKU minimums ----------------------------------------------


def test_price_breaks_set_the_po_cost_and_the_minimum_value_test() -> None:
    tiers = (PriceBreak(10, Decimal("8")), PriceBreak(20, Decimal("7")))
    rules = policy(min_value="95", sku_rules={"S-1": SkuRule(price_breaks=tiers)})
    batch = batch_of(line("a", 9, cost="10"))
    assert batch.decide(rules, T0).action == "wait"  # 9 x 10 = 90
    batch.add(line("b", 1, cost="10"))
    assert batch.decide(rules, T0).action == "wait"  # 10 units reach the tier: 10 x 8 = 80, not 100
    batch.add(line("c", 2, cost="10"))
    [draft] = batch.release(rules, T0, batch.decide(rules, T0).release_reason)
    assert {po_line.unit_cost for po_line in draft.lines} == {Decimal("8")}
    assert draft.total_value == Decimal("96")


def test_a_surplus_line_is_priced_at_the_tier_of_the_ordered_quantity() -> None:
    rule = SkuRule(case_pack=10, remainder="round_up", price_breaks=(PriceBreak(10, Decimal("4")),))
    rules = policy(sku_rules={"S-1": rule})
    batch = batch_of(line("a", 7, cost="5"))
    [draft] = batch.release(rules, T0, "minimum_met")
    assert [(po_line.quantity, po_line.unit_cost) for po_line in draft.lines] == [(7, 4), (3, 4)]


def test_a_sku_below_its_minimum_quantity_stays_while_the_rest_is_released() -> None:
    rules = policy(min_units=3, sku_rules={"S-1": SkuRule(min_qty=5)})
    batch = batch_of(line("a", 4), line("b", 3, supplier_sku="S-2"))
    decision = batch.decide(rules, T0)
    assert decision.reason == "minimum_met"
    assert by_id(batch.release(rules, T0, decision.release_reason)) == {"b": 3}
    assert [pending.backorder_line_id for pending in batch.lines] == ["a"]


def test_held_back_skus_do_not_count_toward_the_minimum() -> None:
    rules = policy(min_units=5, sku_rules={"S-1": SkuRule(min_qty=5)})
    batch = batch_of(line("a", 4), line("b", 3, supplier_sku="S-2"))
    assert batch.decide(rules, T0).reason == "below_minimum"


def test_an_operator_release_takes_skus_below_their_minimum_and_rounds_them_up() -> None:
    rules = policy(min_units=50, sku_rules={"S-1": SkuRule(min_qty=5, case_pack=4, remainder="round_up")})
    batch = batch_of(line("a", 3))
    [draft] = batch.release(rules, T0, "operator")
    assert by_id([draft]) == {"a": 3, None: 1}
    assert (draft.release_reason, draft.below_minimum) == ("operator", True)


# -- deadline ----------------------------------------------------------------------


def test_at_the_deadline_the_batch_is_released_below_minimum_and_says_so() -> None:
    rules = policy(min_units=100, max_wait=2 * HOUR)
    batch = batch_of(line("a", 1), line("b", 1, at=T0 + HOUR))
    assert batch.decide(rules, T0 + 2 * HOUR - timedelta(seconds=1)).action == "wait"
    decision = batch.decide(rules, T0 + 2 * HOUR)
    assert (decision.action, decision.reason) == ("release", "deadline")
    [draft] = batch.release(rules, T0 + 2 * HOUR, decision.release_reason)
    assert (draft.below_minimum, by_id([draft])) == (True, {"a": 1, "b": 1})
    assert batch.line_count == 0


def test_a_service_down_at_the_deadline_releases_when_it_is_back() -> None:
    rules = policy(min_units=100, max_wait=HOUR)
    assert batch_of(line("a")).decide(rules, T0 + 30 * HOUR).reason == "deadline"


def test_escalation_happens_once_then_clears_when_the_overdue_lines_leave() -> None:
    rules = policy(min_units=5, max_wait=HOUR, on_deadline="escalate")
    batch = batch_of(line("a", 2))
    first = batch.decide(rules, T0 + HOUR)
    assert (first.action, first.reason) == ("escalate", "deadline")
    assert batch.escalated and batch.escalated_at == T0 + HOUR
    assert [overdue.backorder_line_id for overdue in batch.overdue_lines(rules, T0 + HOUR)] == ["a"]
    assert (batch.decide(rules, T0 + 2 * HOUR).action, batch.decide(rules, T0 + 2 * HOUR).reason) == (
        "wait",
        "escalated",
    )
    batch.add(line("b", 3, at=T0 + 2 * HOUR))
    decision = batch.decide(rules, T0 + 2 * HOUR)
    assert decision.reason == "minimum_met"
    batch.release(rules, T0 + 2 * HOUR, decision.release_reason)
    assert not batch.escalated
    batch.add(line("c", 1, at=T0 + 3 * HOUR))
    assert batch.decide(rules, T0 + 4 * HOUR).action == "escalate"


def test_an_operator_release_clears_the_escalation() -> None:
    rules = policy(min_units=5, max_wait=HOUR, on_deadline="escalate")
    batch = batch_of(line("a", 2))
    batch.decide(rules, T0 + HOUR)
    [draft] = batch.release(rules, T0 + HOUR, "operator")
    assert draft.below_minimum and not batch.escalated


# -- hold and resume -----------------------------------------------------------------


def test_a_held_batch_never_releases_and_escalates_at_the_deadline() -> None:
    rules = policy(min_units=1, max_wait=HOUR)
    batch = batch_of(line("a", 5))
    batch.hold()
    waiting = batch.decide(rules, T0)
    assert (waiting.action, waiting.reason, waiting.next_check) == ("wait", "held", T0 + HOUR)
    assert batch.decide(rules, T0 + HOUR).action == "escalate"
    assert batch.decide(rules, T0 + 2 * HOUR).reason == "held"
    with pytest.raises(BatchHeldError):
        batch.release(rules, T0 + 2 * HOUR, "operator")
    batch.resume()
    decision = batch.decide(rules, T0 + 2 * HOUR)
    assert decision.reason == "deadline"
    assert by_id(batch.release(rules, T0 + 2 * HOUR, decision.release_reason)) == {"a": 5}


# -- splitting ----------------------------------------------------------------------------


def test_max_lines_per_po_splits_a_release_and_keeps_surplus_with_its_sku() -> None:
    rules = policy(
        max_lines_per_po=3,
        sku_rules={"S-1": SkuRule(case_pack=5, remainder="round_up")},
    )
    batch = batch_of(line("a", 2), line("b", 1), line("c", 1, supplier_sku="S-2"), line("d", 1, supplier_sku="S-2"))
    drafts = batch.release(rules, T0, "minimum_met")
    assert [[po_line.backorder_line_id for po_line in draft.lines] for draft in drafts] == [
        ["a", "b", None],
        ["c", "d"],
    ]
    assert [(draft.part, draft.parts) for draft in drafts] == [(1, 2), (2, 2)]


def test_a_sku_larger_than_a_po_is_cut_where_case_packs_are_whole() -> None:
    rules = policy(max_lines_per_po=2, sku_rules={"S-1": SkuRule(case_pack=4, remainder="wait")})
    batch = batch_of(line("a", 2), line("b", 2), line("c", 3), line("d", 1))
    drafts = batch.release(rules, T0, "minimum_met")
    assert [by_id([draft]) for draft in drafts] == [{"a": 2, "b": 2}, {"c": 3, "d": 1}]


def test_a_sku_without_a_whole_cut_gets_a_surplus_line_per_po() -> None:
    rules = policy(max_lines_per_po=2, sku_rules={"S-1": SkuRule(case_pack=4, remainder="round_up")})
    batch = batch_of(line("a", 1), line("b", 1), line("c", 1))
    drafts = batch.release(rules, T0, "minimum_met")
    assert all(draft.total_units % 4 == 0 for draft in drafts)
    assert sorted(i for draft in drafts for i in draft.backorder_line_ids) == ["a", "b", "c"]
    assert all(len(draft.lines) <= 2 for draft in drafts)


# -- progress and expected release -------------------------------------------------------------


def test_progress_shows_the_way_to_the_minimums() -> None:
    rules = policy(min_units=10, min_value="400", max_wait=10 * HOUR)
    batch = batch_of(line("a", 4, cost="25"))
    batch.hold()
    progress = batch.progress(rules, T0 + 2 * HOUR)
    assert (progress.units, progress.value, progress.line_count) == (4, Decimal(100), 1)
    assert (progress.units_fraction, progress.value_fraction, progress.minimum_met) == (0.4, 0.25, False)
    assert (progress.oldest_age, progress.deadline, progress.held) == (2 * HOUR, T0 + 10 * HOUR, True)
    assert policy().min_units == 0 and batch.progress(policy(), T0).units_fraction == 1.0


def test_expected_release_is_the_earlier_of_deadline_and_arrival_estimate() -> None:
    rules = policy(min_units=10, max_wait=10 * HOUR)
    batch = batch_of(line("a", 4))
    assert batch.expected_release_at(rules, T0, None) == T0 + 10 * HOUR
    assert batch.expected_release_at(rules, T0, 3.0) == T0 + 2 * HOUR
    assert batch.expected_release_at(rules, T0, 0.1) == T0 + 10 * HOUR
    escalating = policy(min_units=10, max_wait=10 * HOUR, on_deadline="escalate")
    assert batch.expected_release_at(escalating, T0, None) is None
    batch.add(line("b", 6))
    assert batch.expected_release_at(rules, T0, None) == T0


def test_expected_release_reads_a_value_shortfall_in_units() -> None:
    rules = policy(min_value="100", max_wait=100 * HOUR)
    batch = batch_of(line("a", 2, cost="10"))
    assert batch.expected_release_at(rules, T0, 4.0) == T0 + 2 * HOUR


def test_nothing_is_expected_from_an_empty_or_held_batch() -> None:
    assert PendingBatch(SUPPLIER).expected_release_at(policy(), T0, 1.0) is None
    batch = batch_of(line("a"))
    batch.hold()
    assert batch.expected_release_at(policy(), T0, 1.0) is None


def test_restoring_a_batch_from_its_state_gives_the_same_decisions() -> None:
    rules = policy(min_units=5, max_wait=HOUR, on_deadline="escalate")
    original = batch_of(line("a", 2), line("b", 1, at=T0 + HOUR))
    original.decide(rules, T0 + HOUR)
    restored = PendingBatch(
        SUPPLIER,
        original.lines,
        held=original.held,
        escalated_at=original.escalated_at,
        cutoff_checked_through=original.cutoff_checked_through,
        last_release_at=original.last_release_at,
    )
    later = T0 + 90 * timedelta(minutes=1)
    assert restored.decide(rules, later) == original.decide(rules, later)
    assert restored.total_value == original.total_value and restored.escalated


def test_the_extra_surplus_of_a_split_never_helps_reach_a_minimum() -> None:
    rules = policy(min_value="112", max_lines_per_po=2, sku_rules={"S-1": SkuRule(case_pack=12, remainder="round_up")})
    batch = batch_of(line("a", 1, cost="1.25"), line("b", 1, cost="10"))
    assert batch.decide(rules, T0).reason == "below_minimum"  # 1.25 + 10 + 10 surplus x 10 = 111.25
    drafts = batch.release(rules, T0, "operator")
    assert [draft.total_units for draft in drafts] == [12, 12]
    assert all(draft.below_minimum for draft in drafts)


def test_an_empty_batch_knows_a_first_lines_wait_from_the_policy_and_the_arrival_rate() -> None:
    empty = PendingBatch(SUPPLIER)
    assert empty.first_line_wait(policy(min_units=1000, max_wait=20 * DAY), T0, None) == 20 * DAY
    assert empty.first_line_wait(policy(min_units=10, max_wait=20 * DAY), T0, 2.0) == 5 * HOUR
    assert empty.first_line_wait(policy(min_units=1, max_wait=20 * DAY), T0, None) == timedelta(0)
    assert empty.first_line_wait(policy(min_units=10, max_wait=2 * HOUR), T0, 2.0) == 2 * HOUR
    assert empty.first_line_wait(policy(min_value="100", max_wait=3 * DAY), T0, 50.0) == 3 * DAY
    empty.hold()
    assert empty.first_line_wait(policy(min_units=1, max_wait=3 * DAY), T0, 50.0) == 3 * DAY


def test_a_first_line_does_not_push_the_release_later_than_the_empty_batch_said() -> None:
    rules = policy(min_units=1000, max_wait=20 * DAY)
    batch = PendingBatch(SUPPLIER)
    wait = batch.first_line_wait(rules, T0, 1.0)
    batch.add(line("a", 5, at=T0))
    expected = batch.expected_release_at(rules, T0, 6.0)
    assert expected is not None and expected <= T0 + wait


def test_progress_says_what_blocks_the_release_with_the_decisions_own_figures() -> None:
    rules = policy(
        min_units=10,
        sku_rules={"S-1": SkuRule(case_pack=6, remainder="wait"), "S-2": SkuRule(min_qty=5)},
    )
    batch = PendingBatch(SUPPLIER, [line("a", 4), line("b", 2, supplier_sku="S-2")])
    progress = batch.progress(rules, T0)
    assert (progress.units, progress.releasable_units, progress.minimum_met) == (6, 0, False)
    assert progress.blocked_by == ("min_units", "S-1: case_pack", "S-2: min_qty")
    assert batch.decide(rules, T0).action == "wait"
    batch.add(line("c", 2))
    batch.add(line("d", 8, supplier_sku="S-2"))
    progress = batch.progress(rules, T0)
    assert (progress.releasable_units, progress.minimum_met, progress.blocked_by) == (16, True, ())
    assert batch.decide(rules, T0).action == "release"
    assert PendingBatch(SUPPLIER).progress(rules, T0).blocked_by == ("empty",)
