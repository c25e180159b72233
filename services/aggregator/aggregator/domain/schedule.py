"""Cut-off instants of a supplier's daily schedule, in its own time zone, DST included."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from aggregator.domain.policy import Cutoff


def require_aware(instant: datetime, what: str = "now") -> None:
    """Refuse naive datetimes: every instant in the domain carries its offset."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime")


def cutoff_on(cutoff: Cutoff, day: date) -> datetime:
    """The cut-off instant on a local calendar day.

    A local time skipped by a spring-forward gap is read with the offset before the
    gap (02:30 becomes 03:30 summer time); a time repeated at fall-back is its first
    occurrence. The instant is given in UTC: an aware datetime sitting in a repeated
    local hour never compares equal across zones (PEP 495), UTC has no such hour.
    """
    return datetime.combine(day, cutoff.time_of_day, tzinfo=cutoff.zone).astimezone(UTC)


def latest_cutoff(cutoff: Cutoff, now: datetime) -> datetime:
    """The last cut-off instant at or before `now`."""
    today = now.astimezone(cutoff.zone).date()
    instant = cutoff_on(cutoff, today)
    return instant if instant <= now else cutoff_on(cutoff, today - timedelta(days=1))


def next_cutoff(cutoff: Cutoff, now: datetime) -> datetime:
    """The first cut-off instant strictly after `now`."""
    today = now.astimezone(cutoff.zone).date()
    instant = cutoff_on(cutoff, today)
    return instant if instant > now else cutoff_on(cutoff, today + timedelta(days=1))


def cutoff_at_or_after(cutoff: Cutoff, instant: datetime) -> datetime:
    """The first cut-off instant at or after `instant`."""
    latest = latest_cutoff(cutoff, instant)
    return latest if latest >= instant else next_cutoff(cutoff, instant)
