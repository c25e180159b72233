"""Cut-off schedules in a supplier's own time zone (DST included) and the arrival rate."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from aggregator_domain_factories import SUPPLIER, line, policy

from aggregator.domain import ArrivalRate, Cutoff, PendingBatch
from aggregator.domain.schedule import cutoff_at_or_after, latest_cutoff, next_cutoff

PARIS = ZoneInfo("Europe/Paris")
TWO_PM_PARIS = Cutoff("14:00", "Europe/Paris")
HOUR = timedelta(hours=1)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def test_the_cutoff_follows_the_suppliers_local_clock_across_the_dst_change() -> None:
    assert next_cutoff(TWO_PM_PARIS, utc(2024, 3, 30, 8)) == utc(2024, 3, 30, 13)  # CET, UTC+1
    assert next_cutoff(TWO_PM_PARIS, utc(2024, 3, 30, 13)) == utc(2024, 3, 31, 12)  # CEST: only 23 h later
    assert latest_cutoff(TWO_PM_PARIS, utc(2024, 3, 31, 11, 59)) == utc(2024, 3, 30, 13)
    assert latest_cutoff(TWO_PM_PARIS, utc(2024, 3, 31, 12)) == utc(2024, 3, 31, 12)
    assert next_cutoff(TWO_PM_PARIS, utc(2024, 10, 26, 13)) == utc(2024, 10, 27, 13)  # back to CET: 25 h
    assert cutoff_at_or_after(TWO_PM_PARIS, utc(2024, 3, 31, 12)) == utc(2024, 3, 31, 12)


def test_a_cutoff_in_the_spring_gap_or_the_autumn_repeat_is_still_once_a_day() -> None:
    half_past_two = Cutoff("02:30", "Europe/Paris")
    skipped = next_cutoff(half_past_two, utc(2024, 3, 30, 12))
    assert skipped == utc(2024, 3, 31, 1, 30)  # 02:30 does not exist: 03:30 CEST
    assert skipped.astimezone(PARIS).hour == 3
    repeated = next_cutoff(half_past_two, utc(2024, 10, 26, 12))
    assert repeated == utc(2024, 10, 27, 0, 30)  # first of the two 02:30s
    assert next_cutoff(half_past_two, repeated) == utc(2024, 10, 28, 1, 30)


def test_a_met_minimum_waits_for_the_cutoff_and_releases_once_per_local_day() -> None:
    rules = policy(min_units=2, max_wait=72 * HOUR, cutoff=TWO_PM_PARIS)
    batch = PendingBatch(SUPPLIER, [line("a", 2, at=utc(2024, 3, 31, 8))])  # 10:00 CEST on the DST day
    waiting = batch.decide(rules, utc(2024, 3, 31, 8))
    assert (waiting.action, waiting.reason, waiting.next_check) == ("wait", "awaiting_cutoff", utc(2024, 3, 31, 12))
    decision = batch.decide(rules, utc(2024, 3, 31, 12))
    assert decision.reason == "minimum_met"
    batch.release(rules, utc(2024, 3, 31, 12), decision.release_reason)

    batch.add(line("b", 5, at=utc(2024, 3, 31, 12, 30)))
    again = batch.decide(rules, utc(2024, 3, 31, 12, 30))
    assert (again.reason, again.next_check) == ("awaiting_cutoff", utc(2024, 4, 1, 12))
    assert batch.decide(rules, utc(2024, 3, 31, 21)).reason == "awaiting_cutoff"
    assert batch.decide(rules, utc(2024, 4, 1, 12)).reason == "minimum_met"


def test_a_service_down_at_the_cutoff_releases_as_soon_as_it_is_back() -> None:
    rules = policy(min_units=2, max_wait=72 * HOUR, cutoff=TWO_PM_PARIS)
    batch = PendingBatch(SUPPLIER, [line("a", 2, at=utc(2024, 3, 4, 9))])
    assert batch.decide(rules, utc(2024, 3, 4, 16)).reason == "minimum_met"


def test_a_minimum_met_after_todays_cutoff_waits_for_tomorrows() -> None:
    rules = policy(min_units=2, max_wait=72 * HOUR, cutoff=TWO_PM_PARIS)
    batch = PendingBatch(SUPPLIER, [line("a", 2, at=utc(2024, 3, 4, 14))])  # 15:00 CET
    decision = batch.decide(rules, utc(2024, 3, 4, 14))
    assert (decision.reason, decision.next_check) == ("awaiting_cutoff", utc(2024, 3, 5, 13))


def test_a_cutoff_checked_below_minimum_is_spent_for_the_day() -> None:
    rules = policy(min_units=2, max_wait=72 * HOUR, cutoff=TWO_PM_PARIS)
    batch = PendingBatch(SUPPLIER, [line("a", 1, at=utc(2024, 3, 4, 9))])
    assert batch.decide(rules, utc(2024, 3, 4, 13)).reason == "below_minimum"
    batch.add(line("b", 1, at=utc(2024, 3, 4, 13, 30)))
    assert batch.decide(rules, utc(2024, 3, 4, 13, 30)).reason == "awaiting_cutoff"


def test_a_hold_over_the_cutoff_spends_it() -> None:
    rules = policy(min_units=2, max_wait=72 * HOUR, cutoff=TWO_PM_PARIS)
    batch = PendingBatch(SUPPLIER, [line("a", 2, at=utc(2024, 3, 4, 9))])
    batch.hold()
    assert batch.decide(rules, utc(2024, 3, 4, 13)).reason == "held"
    batch.resume()
    assert batch.decide(rules, utc(2024, 3, 4, 14)).reason == "awaiting_cutoff"


def test_the_deadline_releases_at_once_whatever_the_cutoff() -> None:
    rules = policy(min_units=50, max_wait=HOUR, cutoff=TWO_PM_PARIS)
    batch = PendingBatch(SUPPLIER, [line("a", 2, at=utc(2024, 3, 4, 8))])
    waiting = batch.decide(rules, utc(2024, 3, 4, 8, 30))
    assert waiting.next_check == utc(2024, 3, 4, 9)  # the deadline comes before the cutoff
    assert batch.decide(rules, utc(2024, 3, 4, 9)).reason == "deadline"


def test_the_expected_release_is_aligned_to_the_next_open_cutoff() -> None:
    rules = policy(min_units=10, max_wait=72 * HOUR, cutoff=TWO_PM_PARIS)
    batch = PendingBatch(SUPPLIER, [line("a", 4, at=utc(2024, 3, 4, 8))])
    assert batch.expected_release_at(rules, utc(2024, 3, 4, 8), 3.0) == utc(2024, 3, 4, 13)
    assert batch.expected_release_at(rules, utc(2024, 3, 4, 8), 1.0) == utc(2024, 3, 5, 13)
    assert batch.expected_release_at(rules, utc(2024, 3, 4, 8), None) == utc(2024, 3, 7, 8)
    batch.add(line("b", 6, at=utc(2024, 3, 4, 8)))
    assert batch.expected_release_at(rules, utc(2024, 3, 4, 8), None) == utc(2024, 3, 4, 13)
    assert batch.expected_release_at(rules, utc(2024, 3, 4, 15), None) == utc(2024, 3, 4, 15)


def test_the_arrival_rate_tracks_a_steady_stream_and_fades_when_it_stops() -> None:
    rate = ArrivalRate(time_constant=2 * HOUR)
    start = utc(2024, 3, 4)
    assert rate.per_hour(start) == 0.0
    for minute in range(0, 24 * 60, 6):
        rate.record(1, start + timedelta(minutes=minute))
    end = start + timedelta(hours=24)
    assert rate.per_hour(end) == pytest.approx(10.0, rel=0.05)
    assert rate.per_hour(end + 2 * HOUR) == pytest.approx(rate.per_hour(end) / math.e)


def test_a_late_arrival_counts_as_if_it_had_come_on_time() -> None:
    on_time, late = ArrivalRate(), ArrivalRate()
    on_time.record(3, utc(2024, 3, 4, 8))
    on_time.record(5, utc(2024, 3, 4, 9))
    late.record(5, utc(2024, 3, 4, 9))
    late.record(3, utc(2024, 3, 4, 8))
    assert late.per_hour(utc(2024, 3, 4, 10)) == pytest.approx(on_time.per_hour(utc(2024, 3, 4, 10)))
    with pytest.raises(ValueError, match="aware"):
        late.per_hour(datetime(2024, 3, 4))
