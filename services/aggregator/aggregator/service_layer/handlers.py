"""The aggregator's handlers, one function per incoming event batch, command and timer: backorders in,
decisions, purchase orders out; operators' commands."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from aggregator.adapters.policy_codec import policy_from_json, policy_to_json
from aggregator.adapters.repository import LineDetails
from aggregator.domain.arrival import leaving_share
from aggregator.domain.errors import DomainError
from aggregator.domain.line import PendingLine
from aggregator.domain.release import PurchaseOrderDraft
from aggregator.domain.schedule import next_cutoff
from aggregator.domain.waiting import ConsolationTerms, WaitingOutlook
from aggregator.service_layer.batches import BatchCache, OpenBatch
from aggregator.service_layer.unit_of_work import AggregatorUnitOfWork
from dropship_shared.events import (
    Address,
    BackorderCancelled,
    BackorderCreated,
    BackorderWithdrawalRequested,
    BackorderWithdrawn,
    BatchEscalated,
    BatchReleaseExpected,
    Envelope,
    PurchaseOrderCancelRequested,
    PurchaseOrderLine,
    PurchaseOrderRequested,
    utcnow,
)
from dropship_shared.tracing import continuing, gathering, traceparent_of
from dropship_shared.unit_of_work import UnitOfWorkFactory

Clock = Callable[[], datetime]
CONSUMER = "aggregator"
# A new expected release is published when it moves by more than this (or 10% of the wait left).
EXPECTED_RELEASE_TOLERANCE = timedelta(minutes=15)
# An empty batch's expected wait is looked at again this often while an arrival rate is observed.
EMPTY_ESTIMATE_REFRESH = timedelta(hours=1)
# A batch below its minimum with a small-order fee is weighed again this often: as the arrival rate fades its
# expected release moves later and waiting costs more, with no backorder arriving to say so.
FEE_REVIEW_INTERVAL = timedelta(hours=1)
# Releases in one decision pass; a batch re-meeting its minimum right after a release is rare.
MAX_RELEASES_PER_PASS = 10


class SupplierNotFound(DomainError):
    pass


@dataclass(frozen=True)
class MerchantTerms:
    """What the decision reads of the merchant's settings: its warehouse (where surplus units are shipped) and
    its consolation rule (for the small-order fee rule)."""

    warehouse: Address
    consolation: ConsolationTerms = field(default_factory=ConsolationTerms)


# Every handler takes the unit of work factory; those that open a supplier's batch also take the process's
# batches (BatchCache: the batches kept in memory and the per-supplier locks, passed in like a repository) and
# the merchant's terms, and read the time from `clock`.


# -- events ------------------------------------------------------------------


async def on_backorder_events(
    uow_factory: UnitOfWorkFactory[AggregatorUnitOfWork],
    batches: BatchCache,
    terms: MerchantTerms,
    envelopes: list[Envelope],
    clock: Clock = utcnow,
) -> None:
    """Backorders and cancellations delivered together, handled in one transaction with the effect of
    one at a time: the events are claimed and the new lines stored in one statement each, then each
    event is applied and decided in turn; each supplier's row is locked once (in supplier order, so
    replicas cannot deadlock) and written once."""
    now = clock()
    payloads = {str(envelope.event_id): _backorder_payload(envelope) for envelope in envelopes}
    suppliers = sorted({payload.supplier_id for payload in payloads.values()})
    async with contextlib.AsyncExitStack() as held:
        for supplier_id in suppliers:
            await held.enter_async_context(batches.serial(supplier_id))
        uow = await held.enter_async_context(uow_factory())
        opened = await batches.open_all(uow, suppliers)
        fresh = await uow.fresh_events(CONSUMER, envelopes)
        # (supplier, line, its details and the trace context it arrived in) by line; a line republished in this
        # batch: the first
        lines: dict[str, tuple[str, PendingLine, LineDetails]] = {}
        for envelope in fresh:
            payload = payloads[str(envelope.event_id)]
            if isinstance(payload, BackorderCreated) and payload.backorder_line_id not in lines:
                arrived_in = traceparent_of(envelope.correlation_id)
                details = (_line_details(payload), arrived_in)
                lines[payload.backorder_line_id] = (payload.supplier_id, _pending_line(payload), details)
        added = await uow.lines.add_pending(list(lines.values()))
        for envelope in fresh:
            uow.correlation_id = envelope.correlation_id
            payload = payloads[str(envelope.event_id)]
            batch = opened[payload.supplier_id]
            if isinstance(payload, BackorderCreated):
                if payload.backorder_line_id in added:
                    added.discard(payload.backorder_line_id)  # a line republished in this batch counts once
                    # The batch in memory carries no ship-to: the decision never reads it (memory per line).
                    batch.batch.add(lines[payload.backorder_line_id][1])
                    batch.arrivals.record(payload.quantity, now)
            elif isinstance(payload, BackorderWithdrawalRequested):
                added.discard(payload.backorder_line_id)  # withdrawn before its backorder was applied
                await _withdraw_backorder(uow, batch, payload, now)
            else:
                added.discard(payload.backorder_line_id)  # cancelled before its backorder was applied
                await _cancel_backorder(uow, batch, payload, now)
            await _decide(uow, batch, now, terms)
        await _commit(uow, batches, list(opened.values()), now)


async def _cancel_backorder(
    uow: AggregatorUnitOfWork, opened: OpenBatch, payload: BackorderCancelled, now: datetime
) -> None:
    known = await uow.lines.status_of(payload.backorder_line_id)
    if known is None:
        await uow.lines.add_tombstone(payload.supplier_id, payload.backorder_line_id, now)
    elif known[0] == "pending":
        _leave(opened, payload.backorder_line_id, now)
        await uow.lines.mark_cancelled(payload.backorder_line_id)
    elif known[0] == "released" and known[1] is not None and known[2] is not None:
        uow.emit(
            PurchaseOrderCancelRequested(
                po_number=known[1],
                supplier_id=payload.supplier_id,
                backorder_line_id=payload.backorder_line_id,
                line_no=known[2],
                quantity=known[3],
            )
        )


async def _withdraw_backorder(
    uow: AggregatorUnitOfWork, opened: OpenBatch, payload: BackorderWithdrawalRequested, now: datetime
) -> None:
    """Stock arrived for the line: it leaves its batch if still pending (a line not seen yet is tombstoned,
    so it is ignored when it comes); once released it stays on its PO. Orders is told which."""
    known = await uow.lines.status_of(payload.backorder_line_id)
    withdrawn = known is None or known[0] == "pending"
    if known is None:
        await uow.lines.add_tombstone(payload.supplier_id, payload.backorder_line_id, now)
    elif withdrawn:
        _leave(opened, payload.backorder_line_id, now)
        await uow.lines.mark_cancelled(payload.backorder_line_id)
    uow.emit(
        BackorderWithdrawn(
            backorder_line_id=payload.backorder_line_id, supplier_id=payload.supplier_id, withdrawn=withdrawn
        )
    )


# -- time ----------------------------------------------------------------------


async def review_due_batches(
    uow_factory: UnitOfWorkFactory[AggregatorUnitOfWork],
    batches: BatchCache,
    terms: MerchantTerms,
    clock: Clock = utcnow,
) -> int:
    """Release or escalate every batch whose deadline or cut-off has come (also after downtime)."""
    now = clock()
    async with uow_factory() as uow:
        due = await uow.suppliers.due_for_review(now)
    for supplier_id in due:
        # A trace of its own (no order's arrival causes it); a release in it links the orders' traces.
        with continuing("review batch", None, supplier_id=supplier_id):
            async with batches.serial(supplier_id), uow_factory() as uow:
                opened = await batches.open(uow, supplier_id)
                await _decide(uow, opened, now, terms)
                await _commit(uow, batches, [opened], now)
    return len(due)


# -- operators -----------------------------------------------------------------


async def register_supplier(uow_factory: UnitOfWorkFactory[AggregatorUnitOfWork], supplier_id: str, name: str) -> None:
    async with uow_factory() as uow:
        await uow.suppliers.ensure(supplier_id, name)
        await uow.suppliers.update(supplier_id, name=name)
        await uow.commit()


async def set_policy(
    uow_factory: UnitOfWorkFactory[AggregatorUnitOfWork],
    batches: BatchCache,
    terms: MerchantTerms,
    supplier_id: str,
    data: dict[str, Any],
    clock: Clock = utcnow,
) -> int:
    """Store a new version of the supplier's policy (PolicyError when invalid) and apply it at once."""
    now = clock()
    async with batches.serial(supplier_id), uow_factory() as uow:
        record = await uow.suppliers.get(supplier_id, lock=True)
        if record is None:
            raise SupplierNotFound(f"unknown supplier {supplier_id!r}: register it first (PUT /suppliers/{{id}})")
        version = record.policy_version + 1
        policy = policy_from_json(supplier_id, version, data)
        stored = policy_to_json(policy)
        await uow.suppliers.update(supplier_id, policy=stored, policy_version=version, configured=True)
        await uow.suppliers.add_policy_version(supplier_id, version, stored, now)
        opened = await batches.open(uow, supplier_id)
        opened.record.policy, opened.record.policy_version = stored, version
        opened.policy = policy
        await _decide(uow, opened, now, terms)
        await _commit(uow, batches, [opened], now)
        return version


async def release_now(
    uow_factory: UnitOfWorkFactory[AggregatorUnitOfWork],
    batches: BatchCache,
    terms: MerchantTerms,
    supplier_id: str,
    correlation_id: str,
    clock: Clock = utcnow,
) -> list[str]:
    """An operator releases a supplier's batch whatever the minimums say (refused while held)."""
    now = clock()
    async with batches.serial(supplier_id), uow_factory() as uow:
        uow.correlation_id = correlation_id
        if await uow.suppliers.get(supplier_id) is None:
            raise SupplierNotFound(f"unknown supplier {supplier_id!r}")
        opened = await batches.open(uow, supplier_id)
        drafts = opened.batch.release(opened.policy, now, "operator")
        po_numbers = await _place(uow, drafts, terms.warehouse)
        await _decide(uow, opened, now, terms)
        await _commit(uow, batches, [opened], now)
        return po_numbers


async def set_held(
    uow_factory: UnitOfWorkFactory[AggregatorUnitOfWork],
    batches: BatchCache,
    terms: MerchantTerms,
    supplier_id: str,
    held: bool,
    clock: Clock = utcnow,
) -> None:
    now = clock()
    async with batches.serial(supplier_id), uow_factory() as uow:
        if await uow.suppliers.get(supplier_id) is None:
            raise SupplierNotFound(f"unknown supplier {supplier_id!r}")
        opened = await batches.open(uow, supplier_id)
        if held:
            opened.batch.hold()
        else:
            opened.batch.resume()
        await _decide(uow, opened, now, terms)
        await _commit(uow, batches, [opened], now)


# -- the decision ----------------------------------------------------------------


async def _decide(uow: AggregatorUnitOfWork, opened: OpenBatch, now: datetime, terms: MerchantTerms) -> None:
    """Apply the policy: release (emit POs), escalate (emit a notice) or note when to look again."""
    batch, policy = opened.batch, opened.policy
    next_check: datetime | None = None
    # The outlook weighs waiting against a small-order fee: without a fee nothing reads it (decided per event).
    outlook = (
        WaitingOutlook(
            arrival_rate_units_per_hour=opened.arrivals.per_hour(now),
            cancellation_share=leaving_share(opened.arrivals, opened.departures, now),
            consolation=terms.consolation,
        )
        if policy.small_order_fee is not None
        else WaitingOutlook()
    )
    for _ in range(MAX_RELEASES_PER_PASS):
        decision = batch.decide(policy, now, outlook)
        if decision.action == "release":
            drafts = batch.release(policy, now, decision.release_reason)
            if decision.figures is not None:
                figures = decision.figures.as_record()
                drafts = [replace(draft, release_figures=figures) for draft in drafts]
            await _place(uow, drafts, terms.warehouse)
            if drafts:
                continue
            oldest = batch.oldest  # nothing releasable yet: look again at the deadline
            next_check = oldest.received_at + policy.max_wait if oldest else None
            break
        elif decision.action == "escalate":
            overdue = batch.overdue_lines(policy, now)
            oldest = batch.oldest
            uow.emit(
                BatchEscalated(
                    supplier_id=batch.supplier_id,
                    backorder_line_ids=[line.backorder_line_id for line in overdue],
                    oldest_received_at=oldest.received_at if oldest else now,
                )
            )
        next_check = decision.next_check
        if decision.reason == "below_minimum" and policy.small_order_fee is not None:
            next_check = min(t for t in (next_check, now + FEE_REVIEW_INTERVAL) if t is not None)
        break
    opened.record.next_check_at = next_check


def _tell_expected_release(uow: AggregatorUnitOfWork, opened: OpenBatch, now: datetime) -> None:
    """Publish the batch's expected release when it moved noticeably, or when a batch told empty has lines (not on
    every backorder).

    An empty batch publishes how long a first backorder would wait, so orders promises an informed
    date before any line has arrived (and the availability endpoint shows the same date)."""
    batch, record = opened.batch, opened.record
    rate = opened.arrivals.per_hour(now)
    if batch.line_count == 0:
        wait = batch.first_line_wait(opened.policy, now, rate)
        previous_wait = record.first_line_wait_seconds
        tolerance = max(EXPECTED_RELEASE_TOLERANCE, wait * 0.1)
        if previous_wait is not None and abs(wait - timedelta(seconds=previous_wait)) <= tolerance:
            return
        record.first_line_wait_seconds = wait.total_seconds()
        record.expected_release_at = now + wait
        uow.emit(
            BatchReleaseExpected(
                supplier_id=batch.supplier_id,
                expected_release_at=now + wait,
                backorder_line_ids=[],
                first_line_wait_seconds=wait.total_seconds(),
                **_standing(opened, now),
            )
        )
        return
    # Orders routes with the standing last told: a batch told empty that has lines now is told again even when
    # its release did not move (its first line's deadline is what the empty batch said), once per batch.
    told_empty = record.first_line_wait_seconds is not None
    record.first_line_wait_seconds = None
    expected = batch.expected_release_at(opened.policy, now, rate)
    previous = record.expected_release_at
    if expected is None:
        record.expected_release_at = None
        return
    if previous is not None and not told_empty:
        tolerance = max(EXPECTED_RELEASE_TOLERANCE, (previous - now) * 0.1)
        if abs(expected - previous) <= tolerance:
            return
    record.expected_release_at = expected
    oldest = batch.oldest
    uow.emit(
        BatchReleaseExpected(
            supplier_id=batch.supplier_id,
            expected_release_at=expected,
            backorder_line_ids=[line.backorder_line_id for line in batch.lines],
            latest_release_at=oldest.received_at + opened.policy.max_wait if oldest else None,
            **_standing(opened, now),
        )
    )


async def _place(uow: AggregatorUnitOfWork, drafts: list[PurchaseOrderDraft], warehouse: Address) -> list[str]:
    if not drafts:
        return []
    numbers = await uow.purchase_orders.next_numbers(len(drafts))
    released = await uow.lines.details_of([i for draft in drafts for i in draft.backorder_line_ids])
    details = {line_id: line_details for line_id, (line_details, _) in released.items()}
    # The release is a span linking the trace each line arrived in, so every order's trace leads to its PO,
    # whatever released it (an arrival, a deadline, an operator); the PO events carry this span.
    with gathering(
        "release purchase orders",
        traceparent_of(uow.correlation_id),
        (traceparent for _, traceparent in released.values()),
        supplier_id=drafts[0].supplier_id,
        release_reason=drafts[0].release_reason,
        po_numbers=numbers,
    ):
        for po_number, draft in zip(numbers, drafts, strict=True):
            uow.lines.mark_released(po_number, uow.purchase_orders.add(po_number, draft))
            uow.emit(_request_of(po_number, draft, details, warehouse))
    return numbers


def _request_of(
    po_number: str, draft: PurchaseOrderDraft, details_of: dict[str, dict[str, Any]], warehouse: Address
) -> PurchaseOrderRequested:
    lines = []
    currency = "USD"
    for line_no, line in enumerate(draft.lines, start=1):
        details = details_of.get(line.backorder_line_id or "", {})
        if details.get("currency"):
            currency = str(details["currency"])
        lines.append(
            PurchaseOrderLine(
                line_no=line_no,
                backorder_line_id=line.backorder_line_id,
                sku=line.sku,
                supplier_sku=line.supplier_sku,
                quantity=line.quantity,
                unit_cost=line.unit_cost,
                ship_to=Address.model_validate(details["ship_to"]) if not line.surplus else warehouse,
                customer_ref=str(details.get("customer_ref", "")) if not line.surplus else "STOCK",
            )
        )
    return PurchaseOrderRequested(
        po_number=po_number,
        supplier_id=draft.supplier_id,
        currency=currency,
        release_reason=draft.release_reason,
        below_minimum=draft.below_minimum,
        release_figures=None if draft.release_figures is None else dict(draft.release_figures),
        lines=lines,
    )


async def _commit(uow: AggregatorUnitOfWork, batches: BatchCache, opened: list[OpenBatch], now: datetime) -> None:
    figures = {}
    for batch in opened:
        _tell_expected_release(uow, batch, now)
        progress = batch.batch.progress(batch.policy, now)
        if batch.batch.line_count == 0 and _rate_observed(batch, now):
            # The first-line wait follows the arrival rate as it fades: look at it again later.
            batch.record.next_check_at = min(
                t for t in (batch.record.next_check_at, now + EMPTY_ESTIMATE_REFRESH) if t is not None
            )
        figures[batch.batch.supplier_id] = {
            "next_check_at": batch.record.next_check_at,
            "expected_release_at": batch.record.expected_release_at,
            "first_line_wait_seconds": batch.record.first_line_wait_seconds,
            "releasable_units": progress.releasable_units,
            "releasable_value": progress.releasable_value,
            "minimum_met": progress.minimum_met,
            "blocked_by": list(progress.blocked_by),
        }
    versions = await batches.save_all(uow, opened, figures)
    await uow.commit()
    for batch, version in zip(opened, versions, strict=True):
        batches.keep(batch.batch.supplier_id, version, batch.batch)


def _leave(opened: OpenBatch, backorder_line_id: str, now: datetime) -> None:
    """A pending line leaves its batch before release: counted, so the fee rule knows how many waiting lines
    never need the purchase order."""
    line = opened.batch.get(backorder_line_id)
    if line is not None and opened.batch.cancel(backorder_line_id):
        opened.departures.record(line.quantity, now)


def _standing(opened: OpenBatch, now: datetime) -> dict[str, Any]:
    """Where the batch stands, for orders' routing: its pending units and value, the policy's minimums, and
    when a batch completed now would go (its next cut-off)."""
    batch, policy = opened.batch, opened.policy
    return {
        "pending_units": batch.total_units,
        "pending_value": batch.total_value,
        "min_units": policy.min_units,
        "min_value": policy.min_value,
        "next_cutoff_at": next_cutoff(policy.cutoff, now) if policy.cutoff is not None else None,
    }


def _rate_observed(opened: OpenBatch, now: datetime) -> bool:
    """Whether an empty batch's first-line wait is set by the arrival rate now (it then changes as the rate
    fades); once the rate no longer matters (the max wait again, a held batch, a one-unit minimum), no need."""
    batch, policy = opened.batch, opened.policy
    rate = opened.arrivals.per_hour(now)
    return rate > 0 and batch.first_line_wait(policy, now, rate) != batch.first_line_wait(policy, now, None)


def _pending_line(payload: BackorderCreated) -> PendingLine:
    return PendingLine(
        backorder_line_id=payload.backorder_line_id,
        supplier_sku=payload.supplier_sku,
        sku=payload.sku,
        quantity=payload.quantity,
        unit_cost=payload.unit_cost,
        received_at=payload.ordered_at,
    )


def _line_details(payload: BackorderCreated) -> dict[str, Any]:
    """What the line's row keeps beside the batch's figures, for its purchase order."""
    return {
        "order_id": payload.order_id,
        "line_no": payload.line_no,
        "customer_ref": payload.customer_ref,
        "currency": payload.currency,
        "ship_to": payload.ship_to.model_dump(mode="json"),
    }


def _backorder_payload(envelope: Envelope) -> BackorderCreated | BackorderCancelled | BackorderWithdrawalRequested:
    if envelope.type == "backorder.cancelled":
        return envelope.payload_as(BackorderCancelled)
    if envelope.type == "backorder.withdrawal_requested":
        return envelope.payload_as(BackorderWithdrawalRequested)
    return envelope.payload_as(BackorderCreated)
