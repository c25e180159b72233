"""A supplier's pending batch of backorder lines and the decision when to release it."""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal, NamedTuple, cast

from aggregator.domain.errors import BatchHeldError, SupplierMismatchError
from aggregator.domain.line import PendingLine
from aggregator.domain.policy import SupplierPolicy
from aggregator.domain.release import (
    RELEASE_REASONS,
    PurchaseOrderDraft,
    ReleaseReason,
    SkuSelection,
    build_drafts,
    clean_prefix_length,
    select_for_sku,
)
from aggregator.domain.schedule import cutoff_at_or_after, latest_cutoff, next_cutoff, require_aware
from aggregator.domain.waiting import WaitingCost, WaitingOutlook, waiting_cost

DecisionAction = Literal["release", "escalate", "wait"]
WaitReason = Literal["empty", "held", "below_minimum", "awaiting_cutoff", "escalated"]
DecisionReason = ReleaseReason | WaitReason


@dataclass(frozen=True)
class Decision:
    """What a scheduler should do with a batch now, and when to look at it again.

    `release` carries a ReleaseReason ('minimum_met', 'deadline' or
    'fee_cheaper_than_waiting', then with the `figures` behind it; 'operator' is
    never decided, an operator asks for it). `escalate` (reason 'deadline') is given
    once per overdue episode. `wait` says why; `next_check` is the earliest instant
    at which time alone can change the answer (a deadline or a cut-off), None if
    only new backorders or an operator can.
    """

    action: DecisionAction
    reason: DecisionReason
    next_check: datetime | None = None
    figures: WaitingCost | None = None

    @property
    def release_reason(self) -> ReleaseReason:
        if self.action != "release":
            raise ValueError(f"a {self.action} decision has no release reason")
        return cast(ReleaseReason, self.reason)


@dataclass(frozen=True)
class BatchProgress:
    """Where a supplier's batch stands, for the operations dashboard.

    `units` and `value` are everything pending at catalog cost; the `releasable_*`
    figures are what a release by minimum would order now (per-SKU rules applied,
    surplus included, tiered cost), which is what the minimums are judged on. A
    fraction is 1.0 when the policy sets no such minimum.
    """

    supplier_id: str
    line_count: int
    units: int
    value: Decimal
    releasable_units: int
    releasable_value: Decimal
    units_fraction: float
    value_fraction: float
    minimum_met: bool
    oldest_received_at: datetime | None
    oldest_age: timedelta | None
    deadline: datetime | None
    held: bool
    escalated: bool
    blocked_by: tuple[str, ...] = ()


class _Releasable(NamedTuple):
    """What a release by minimum would take now: customers' units, ordered units (surplus included),
    value at tier prices, and each SKU rule holding units back ('<sku>: min_qty', '<sku>: case_pack')."""

    customer_units: int
    ordered_units: int
    value: Decimal
    held_back: tuple[str, ...]

    def meets(self, policy: SupplierPolicy) -> bool:
        return self.customer_units > 0 and policy.meets_minimums(self.ordered_units, self.value)


class _SkuBucket:
    """The pending lines of one supplier SKU, oldest first, with running totals."""

    def __init__(self) -> None:
        # A plain dict keeps insertion order too, at a fraction of an OrderedDict's bytes per line.
        self.lines: dict[str, PendingLine] = {}
        self.units = 0
        self.value = Decimal(0)
        # Cached longest clean prefix (see clean_prefix_length) for case pack `_pack`;
        # kept on append, dropped on removal, so only a cancel costs a rescan of this SKU.
        self._pack = 0
        self._prefix_units = 0
        self._prefix_value = Decimal(0)

    def append(self, line: PendingLine) -> None:
        self.lines[line.backorder_line_id] = line
        self.units += line.quantity
        self.value += line.value
        if self._pack and self.units % self._pack == 0:
            self._prefix_units, self._prefix_value = self.units, self.value

    def remove(self, line: PendingLine) -> None:
        del self.lines[line.backorder_line_id]
        self.units -= line.quantity
        self.value -= line.value
        self._pack = 0

    @property
    def newest_cost(self) -> Decimal:
        return next(reversed(self.lines.values())).unit_cost

    def clean_prefix(self, case_pack: int) -> tuple[int, Decimal]:
        """Units and catalog value of the longest oldest-first run filling whole case packs."""
        if self._pack != case_pack:
            lines = list(self.lines.values())
            length = clean_prefix_length((line.quantity for line in lines), case_pack)
            self._prefix_units = sum(line.quantity for line in lines[:length])
            self._prefix_value = sum((line.value for line in lines[:length]), Decimal(0))
            self._pack = case_pack
        return self._prefix_units, self._prefix_value


class PendingBatch:
    """The backorder lines waiting for one supplier, with running totals kept incrementally.

    add, cancel and a `decide` that answers "wait" cost O(1) in the number of pending
    lines (O(number of SKU rules) for the minimum test; after a cancel, a case-packed
    'wait' SKU is rescanned once). The oldest line is found in amortised O(1): lines
    arriving in time order sit in a queue, the rare out-of-order arrival in a heap, and
    removed lines are skipped lazily.

    Rules chosen where the brief left room:
    - A deadline release takes every pending line (all SKUs, case packs rounded up),
      immediately, even when a cut-off is configured.
    - A held batch never releases; at the deadline it escalates (once), whatever
      `on_deadline` says. An operator release of a held batch is refused.
    - Escalation is given once per overdue episode: the flag clears when no pending
      line is past its deadline any more (released or cancelled).
    - With a cut-off, a release by minimum happens only in the first `decide` at or
      after a cut-off instant (the "slot"), provided a line was already waiting at that
      instant; that decide consumes the slot whether it releases or not (held or below
      minimum included). A service down at the cut-off catches up on its first decide.
      Deadline and operator releases ignore the cut-off and do not consume a slot.
    """

    def __init__(
        self,
        supplier_id: str,
        lines: Iterable[PendingLine] = (),
        *,
        held: bool = False,
        escalated_at: datetime | None = None,
        cutoff_checked_through: datetime | None = None,
        last_release_at: datetime | None = None,
    ) -> None:
        self.supplier_id = supplier_id
        self._held = held
        self._escalated_at = escalated_at
        self._cutoff_checked_through = cutoff_checked_through
        self._last_release_at = last_release_at
        self._lines: dict[str, PendingLine] = {}
        self._skus: dict[str, _SkuBucket] = {}
        self._units = 0
        self._value = Decimal(0)
        # The queues hold the lines themselves: an entry is live while its line is the one pending under its id
        # (`_is_live`), which needs no sequence number or tuple per line (100k pending lines stay within budget).
        self._timeline: deque[PendingLine] = deque()
        # Rare out-of-order arrivals: (received_at in UTC, arrival number so that lines are never compared, line).
        self._late: list[tuple[datetime, int, PendingLine]] = []
        self._late_seq = 0
        self._newest_in_timeline: datetime | None = None
        for line in lines:
            self.add(line)

    # -- state, for persistence and the dashboard -------------------------------

    @property
    def held(self) -> bool:
        return self._held

    @property
    def escalated(self) -> bool:
        return self._escalated_at is not None

    @property
    def escalated_at(self) -> datetime | None:
        return self._escalated_at

    @property
    def cutoff_checked_through(self) -> datetime | None:
        return self._cutoff_checked_through

    @property
    def last_release_at(self) -> datetime | None:
        return self._last_release_at

    @property
    def line_count(self) -> int:
        return len(self._lines)

    @property
    def total_units(self) -> int:
        return self._units

    @property
    def total_value(self) -> Decimal:
        """Catalog value of everything pending (quantity x catalog unit cost)."""
        return self._value

    def sku_units(self, supplier_sku: str) -> int:
        bucket = self._skus.get(supplier_sku)
        return bucket.units if bucket is not None else 0

    @property
    def lines(self) -> tuple[PendingLine, ...]:
        """Pending lines in the order they were added."""
        return tuple(self._lines.values())

    def get(self, backorder_line_id: str) -> PendingLine | None:
        return self._lines.get(backorder_line_id)

    def __contains__(self, backorder_line_id: object) -> bool:
        return backorder_line_id in self._lines

    @property
    def oldest(self) -> PendingLine | None:
        """The line received first, in amortised O(1)."""
        timeline, late = self._timeline, self._late
        while timeline and not self._is_live(timeline[0]):
            timeline.popleft()
        while late and not self._is_live(late[0][2]):
            heapq.heappop(late)
        first = timeline[0] if timeline else None
        straggler = late[0][2] if late else None
        if first is None or (straggler is not None and straggler.received_at < first.received_at):
            return straggler
        return first

    # -- commands --------------------------------------------------------------

    def add(self, line: PendingLine) -> bool:
        """Add a backorder line; False (and no change) if that line id is already pending."""
        if line.backorder_line_id in self._lines:
            return False
        self._lines[line.backorder_line_id] = line
        self._skus.setdefault(line.supplier_sku, _SkuBucket()).append(line)
        self._units += line.quantity
        self._value += line.value
        if self._newest_in_timeline is None or line.received_at >= self._newest_in_timeline:
            self._timeline.append(line)
            self._newest_in_timeline = line.received_at
        else:
            heapq.heappush(self._late, (line.received_at.astimezone(UTC), self._late_seq, line))
            self._late_seq += 1
        return True

    def cancel(self, backorder_line_id: str) -> bool:
        """Remove a pending line; False if it is not pending (unknown, released or cancelled)."""
        line = self._lines.get(backorder_line_id)
        if line is None:
            return False
        self._remove(line)
        return True

    def hold(self) -> None:
        self._held = True

    def resume(self) -> None:
        self._held = False

    def decide(self, policy: SupplierPolicy, now: datetime, outlook: WaitingOutlook = WaitingOutlook()) -> Decision:
        """Decide whether to release, escalate or keep waiting, as of `now`.

        Order of precedence: nothing pending → wait; held → escalate once at the
        deadline, else wait; deadline with on_deadline 'release' → release
        ('deadline'); deadline with 'escalate' → escalate once; minimum met (and,
        with a cut-off, the slot open) → release ('minimum_met'); below the minimum,
        the supplier's small-order fee cheaper than waiting (see `waiting_cost`) →
        release ('fee_cheaper_than_waiting'); else wait.
        """
        self._check(policy, now)
        oldest = self.oldest
        if oldest is None:
            self._escalated_at = None
            return Decision("wait", "empty")
        deadline = oldest.received_at + policy.max_wait
        overdue = now >= deadline
        if not overdue:
            self._escalated_at = None
        slot_open = self._cutoff_open(policy, now, oldest)
        if policy.cutoff is not None:
            slot = latest_cutoff(policy.cutoff, now)
            if self._cutoff_checked_through is None or self._cutoff_checked_through < slot:
                self._cutoff_checked_through = slot
        upcoming_cutoff = next_cutoff(policy.cutoff, now) if policy.cutoff is not None else None
        upcoming_deadline = None if overdue else deadline
        if overdue and self._escalated_at is None and (self._held or policy.on_deadline == "escalate"):
            self._escalated_at = now
            return Decision("escalate", "deadline", None if self._held else upcoming_cutoff)
        if self._held:
            return Decision("wait", "held", None if self._escalated_at else upcoming_deadline)
        if overdue and policy.on_deadline == "release":
            return Decision("release", "deadline")
        next_check = min((t for t in (upcoming_deadline, upcoming_cutoff) if t is not None), default=None)
        if self._minimum_met(policy):
            if policy.cutoff is None or slot_open:
                return Decision("release", "minimum_met")
            return Decision("wait", "awaiting_cutoff", next_check)
        cost = self.waiting_cost(policy, now, outlook)
        if cost is not None and cost.fee_cheaper:
            return Decision("release", "fee_cheaper_than_waiting", figures=cost)
        return Decision("wait", "escalated" if self._escalated_at else "below_minimum", next_check)

    def release(self, policy: SupplierPolicy, now: datetime, reason: ReleaseReason) -> list[PurchaseOrderDraft]:
        """Release what `reason` allows as purchase order drafts; released lines leave the batch.

        See `select_for_sku` for which lines of each SKU go and `build_drafts` for
        pricing and the split. Raises BatchHeldError when held and MinimumNotMetError
        for a release by minimum that does not meet them. An empty result changes nothing.
        """
        self._check(policy, now)
        if reason not in RELEASE_REASONS:
            raise ValueError(f"unknown release reason {reason!r}")
        if self._held:
            raise BatchHeldError(f"supplier {self.supplier_id} is on hold; resume it first")
        selections = self._selections(policy, reason)
        drafts = build_drafts(policy, selections, reason, now)
        if not drafts:
            return drafts
        for selection in selections:
            for line in selection.lines:
                self._remove(line)
        self._last_release_at = now
        oldest = self.oldest
        if oldest is None or oldest.received_at + policy.max_wait > now:
            self._escalated_at = None
        self._compact()
        return drafts

    # -- queries ---------------------------------------------------------------

    def overdue_lines(self, policy: SupplierPolicy, now: datetime) -> list[PendingLine]:
        """Lines past their deadline at `now` (a scan: for escalation notices, not the hot path)."""
        self._check(policy, now)
        return [line for line in self._lines.values() if line.received_at + policy.max_wait <= now]

    def progress(self, policy: SupplierPolicy, now: datetime) -> BatchProgress:
        """The figures `decide` judges, and what blocks a release now (empty when it would release)."""
        self._check(policy, now)
        releasable = self._releasable(policy)
        units, value = releasable.ordered_units, releasable.value
        oldest = self.oldest
        return BatchProgress(
            supplier_id=self.supplier_id,
            line_count=self.line_count,
            units=self._units,
            value=self._value,
            releasable_units=units,
            releasable_value=value,
            units_fraction=min(1.0, units / policy.min_units) if policy.min_units else 1.0,
            value_fraction=min(1.0, float(value / policy.min_value)) if policy.min_value else 1.0,
            minimum_met=releasable.meets(policy),
            oldest_received_at=oldest.received_at if oldest else None,
            oldest_age=now - oldest.received_at if oldest else None,
            deadline=oldest.received_at + policy.max_wait if oldest else None,
            held=self._held,
            escalated=self.escalated,
            blocked_by=self._blocked_by(policy, now, releasable),
        )

    def _blocked_by(self, policy: SupplierPolicy, now: datetime, releasable: _Releasable) -> tuple[str, ...]:
        """Why `decide` would not release by minimum now: the same tests, in words."""
        oldest = self.oldest
        if oldest is None:
            return ("empty",)
        blocked: list[str] = ["held"] if self._held else []
        if releasable.ordered_units < policy.min_units:
            blocked.append("min_units")
        if releasable.value < policy.min_value:
            blocked.append("min_value")
        if releasable.customer_units == 0 and not blocked:
            blocked.append("nothing_releasable")
        if blocked:  # why units do not count; once a release goes, the SKUs held back simply wait for the next
            blocked.extend(releasable.held_back)
        elif policy.cutoff is not None and not self._cutoff_open(policy, now, oldest):
            blocked.append("cutoff")
        return tuple(blocked)

    def expected_release_at(
        self, policy: SupplierPolicy, now: datetime, arrival_rate_units_per_hour: float | None
    ) -> datetime | None:
        """When this batch is expected to be released, for the date customers are given.

        The earlier of: the deadline (only if `on_deadline` is 'release': a deadline
        release is immediate, never aligned to the cut-off), and the moment the minimum
        should be met (now if it is; else the unit shortfall, the value shortfall read
        in units at the batch's average catalog cost, divided by the arrival rate),
        moved to the next open cut-off if the policy has one. None when nothing is
        pending, the batch is held, or neither estimate exists (escalating policy, no
        arrivals). Per-SKU holds are not modelled: this is an estimate.
        """
        self._check(policy, now)
        oldest = self.oldest
        if oldest is None or self._held:
            return None
        candidates: list[datetime] = []
        if policy.on_deadline == "release":
            candidates.append(max(now, oldest.received_at + policy.max_wait))
        minimum_at = self._minimum_expected_at(policy, now, arrival_rate_units_per_hour)
        if minimum_at is not None:
            if policy.cutoff is not None and not (minimum_at == now and self._cutoff_open(policy, now, oldest)):
                minimum_at = cutoff_at_or_after(policy.cutoff, minimum_at)
            candidates.append(minimum_at)
        return min(candidates, default=None)

    def waiting_cost(self, policy: SupplierPolicy, now: datetime, outlook: WaitingOutlook) -> WaitingCost | None:
        """What waiting for this batch's expected release costs against paying the supplier's small-order fee.

        None when the policy has no fee, nothing is pending, the batch is held, or there is no horizon to
        wait for (past an escalated deadline a person decides). The horizon is the expected release
        (`expected_release_at`), else the deadline. From running totals: O(number of SKU rules), no scan.
        """
        self._check(policy, now)
        oldest = self.oldest
        if policy.small_order_fee is None or oldest is None or self._held:
            return None
        horizon = self.expected_release_at(policy, now, outlook.arrival_rate_units_per_hour)
        if horizon is None:
            deadline = oldest.received_at + policy.max_wait
            if deadline <= now:
                return None
            horizon = deadline
        return waiting_cost(
            lines=self.line_count,
            value=self._value,
            extra_seconds=(horizon - now).total_seconds(),
            small_order_fee=policy.small_order_fee,
            delay_cost_per_line_day=policy.delay_cost_per_line_day,
            outlook=outlook,
        )

    def first_line_wait(
        self, policy: SupplierPolicy, now: datetime, arrival_rate_units_per_hour: float | None
    ) -> timedelta:
        """How long a backorder arriving at `now` into this empty batch is expected to wait for the release.

        Known before any line arrives, so the first promise a customer hears is an informed one:
        the max wait bounds it (at the deadline the batch is released, or escalated to a person who
        decides: the best guess either way); sooner if the line alone meets the unit minimum, or the
        observed arrival rate fills it first, moved to the next cut-off when the policy has one. A held
        batch waits for its deadline. The value minimum cannot be read in units before any line
        (no cost known), so it leaves only the deadline. When that line has arrived, the estimate
        of the batch (`expected_release_at`) is no later with a policy releasing at the deadline:
        the deadline is the same and the shortfall only smaller.
        """
        self._check(policy, now)
        wait = policy.max_wait
        if self._held or policy.min_value > 0:
            return wait
        rate = arrival_rate_units_per_hour
        if policy.min_units <= 1:
            minimum_at = now  # the line alone meets the minimum
        elif rate and rate > 0 and policy.min_units / rate < wait / timedelta(hours=1):
            minimum_at = now + timedelta(hours=policy.min_units / rate)
        else:
            return wait
        if policy.cutoff is not None:
            minimum_at = cutoff_at_or_after(policy.cutoff, minimum_at)
        return min(wait, minimum_at - now)

    # -- internals -------------------------------------------------------------

    def _check(self, policy: SupplierPolicy, now: datetime) -> None:
        require_aware(now)
        if policy.supplier_id != self.supplier_id:
            raise SupplierMismatchError(
                f"policy of supplier {policy.supplier_id} applied to the batch of {self.supplier_id}"
            )

    def _is_live(self, line: PendingLine) -> bool:
        """Whether a queue's entry is still pending: a line cancelled and sent again is a new line object."""
        return self._lines.get(line.backorder_line_id) is line

    def _remove(self, line: PendingLine) -> None:
        del self._lines[line.backorder_line_id]
        bucket = self._skus[line.supplier_sku]
        bucket.remove(line)
        if not bucket.lines:
            del self._skus[line.supplier_sku]
        self._units -= line.quantity
        self._value -= line.value
        if len(self._timeline) + len(self._late) > 2 * len(self._lines) + 64:
            self._compact()

    def _compact(self) -> None:
        """Drop stale queue entries so memory stays proportional to pending lines."""
        self._timeline = deque(line for line in self._timeline if self._is_live(line))
        self._late = [item for item in self._late if self._is_live(item[2])]
        heapq.heapify(self._late)
        if not self._lines:
            self._newest_in_timeline = None

    def _selections(self, policy: SupplierPolicy, reason: ReleaseReason) -> list[SkuSelection]:
        selections = []
        for supplier_sku, bucket in self._skus.items():
            rule = policy.sku_rules.get(supplier_sku)
            selection = select_for_sku(supplier_sku, list(bucket.lines.values()), rule, reason)
            if selection is not None:
                selections.append(selection)
        return selections

    def _releasable(self, policy: SupplierPolicy) -> _Releasable:
        """What a release by minimum would take now: the one computation behind `decide` and `progress`.

        Mirrors `select_for_sku` and the pricing of `build_drafts` from running totals:
        SKUs without a rule count as they stand; only SKUs with a rule are visited.
        """
        rules = policy.sku_rules
        customer, ordered, value = self._units, self._units, self._value
        held_back: list[str] = []
        if len(rules) <= len(self._skus):
            ruled = [sku for sku in rules if sku in self._skus]
        else:
            ruled = [sku for sku in self._skus if sku in rules]
        for supplier_sku in ruled:
            bucket, rule = self._skus[supplier_sku], rules[supplier_sku]
            customer -= bucket.units
            ordered -= bucket.units
            value -= bucket.value
            if rule.case_pack > 1 and rule.remainder == "wait":
                quantity, catalog_value = bucket.clean_prefix(rule.case_pack)
                if quantity < bucket.units:
                    held_back.append(f"{supplier_sku}: case_pack")
            else:
                quantity, catalog_value = bucket.units, bucket.value
            if quantity == 0 or quantity < rule.min_qty:
                if quantity and quantity < rule.min_qty:
                    held_back.append(f"{supplier_sku}: min_qty")
                continue
            surplus = -quantity % rule.case_pack
            tier_cost = rule.tier_cost(quantity + surplus)
            customer += quantity
            ordered += quantity + surplus
            if tier_cost is not None:
                value += tier_cost * (quantity + surplus)
            else:
                value += catalog_value + surplus * bucket.newest_cost
        return _Releasable(customer, ordered, value, tuple(held_back))

    def _minimum_met(self, policy: SupplierPolicy) -> bool:
        return self._releasable(policy).meets(policy)

    def _cutoff_open(self, policy: SupplierPolicy, now: datetime, oldest: PendingLine) -> bool:
        if policy.cutoff is None:
            return False
        slot = latest_cutoff(policy.cutoff, now)
        checked = self._cutoff_checked_through
        return (checked is None or checked < slot) and oldest.received_at <= slot

    def _minimum_expected_at(self, policy: SupplierPolicy, now: datetime, rate: float | None) -> datetime | None:
        customer, ordered, value, _ = self._releasable(policy)
        if customer > 0 and policy.meets_minimums(ordered, value):
            return now
        if not rate or rate <= 0:
            return None
        short_units = float(max(0, policy.min_units - ordered))
        short_value = max(Decimal(0), policy.min_value - value)
        if short_value > 0:
            if self._value <= 0:
                return None
            short_units = max(short_units, float(short_value * self._units / self._value))
        hours = max(short_units, 1.0 if customer == 0 else 0.0) / rate
        if not math.isfinite(hours) or hours > 24 * 365 * 100:
            return None
        return now + timedelta(hours=hours)
