"""Opening a supplier's batch for change: lock its row, reuse the in-memory batch when still current.

The decision per incoming backorder must not rescan the pending lines. The process keeps each
supplier's PendingBatch in memory, stamped with the row's `batch_version`; after taking the row
lock, a matching version proves no other replica changed the batch, so the cached one is used.
Otherwise (first touch, another replica wrote, a rolled-back change) the lines are loaded again.

With partitioned consumption (README "Replicas") a batch is kept only for the suppliers this replica is the
active consumer for: those delivered to it from their partition since its consumers were last (re)started.
Losing the consumers forgets them all; another replica may be taking their events from then on.

The handlers take the process's BatchCache as a collaborator (like a repository): it also holds the per-supplier
locks that let one change at a time touch a supplier's batch in this process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter

from aggregator.adapters.policy_codec import default_policy, policy_from_json
from aggregator.adapters.repository import SupplierRecord
from aggregator.domain.arrival import ArrivalRate
from aggregator.domain.batch import PendingBatch
from aggregator.domain.policy import SupplierPolicy
from aggregator.service_layer.unit_of_work import AggregatorUnitOfWork

BATCH_RELOADS = Counter(
    "aggregator_batch_reloads_total",
    "Pending lines read back from the database because the in-memory batch was not current",
)


@dataclass
class OpenBatch:
    record: SupplierRecord
    policy: SupplierPolicy
    batch: PendingBatch
    arrivals: ArrivalRate
    departures: ArrivalRate


class BatchCache:
    def __init__(self, default_max_wait_seconds: int, partitioned: bool = False) -> None:
        self._batches: dict[str, tuple[int, PendingBatch]] = {}
        self._policies: dict[tuple[str, int], SupplierPolicy] = {}
        self._default_max_wait_seconds = default_max_wait_seconds
        # partitioned: the suppliers whose partition this replica consumes now; else None (every supplier is ours)
        self._owned: set[str] | None = set() if partitioned else None
        self._locks: dict[str, asyncio.Lock] = {}

    def serial(self, supplier_id: str) -> asyncio.Lock:
        """One change at a time per supplier in this process: concurrent deliveries for a supplier queue
        here rather than on a database connection and its row lock, and the batch in memory stays current."""
        lock = self._locks.get(supplier_id)
        if lock is None:
            lock = self._locks[supplier_id] = asyncio.Lock()
        return lock

    def own(self, supplier_id: str) -> None:
        """An event of this supplier was delivered from its partition: this replica is its active consumer."""
        if self._owned is not None:
            self._owned.add(supplier_id)

    def forget_all(self) -> None:
        """This replica's consumers were lost: no batch in memory is known current any more."""
        if self._owned is not None:
            self._owned.clear()
        self._batches.clear()

    def is_kept(self, supplier_id: str) -> bool:
        return supplier_id in self._batches

    async def open(self, uow: AggregatorUnitOfWork, supplier_id: str) -> OpenBatch:
        """Lock the supplier's row (creating it if new) and return its current batch and policy."""
        return (await self.open_all(uow, [supplier_id]))[supplier_id]

    async def open_all(self, uow: AggregatorUnitOfWork, supplier_ids: Iterable[str]) -> dict[str, OpenBatch]:
        """Lock the suppliers' rows in one statement, in supplier order (creating those new), and return each
        one's current batch and policy."""
        wanted = sorted(set(supplier_ids))
        records = await uow.suppliers.lock_all(wanted)
        missing = [supplier_id for supplier_id in wanted if supplier_id not in records]
        if missing:  # a supplier's first backorder: two more statements, once
            await uow.suppliers.ensure_all(missing)
            records.update(await uow.suppliers.lock_all(missing))
        return {supplier_id: await self._opened(uow, records[supplier_id]) for supplier_id in wanted}

    async def _opened(self, uow: AggregatorUnitOfWork, record: SupplierRecord) -> OpenBatch:
        supplier_id = record.supplier_id
        cached = self._batches.pop(supplier_id, None)  # popped: a failed transaction must not leave it behind
        if cached is not None and cached[0] == record.batch_version:
            batch = cached[1]
        else:
            BATCH_RELOADS.inc()
            batch = PendingBatch(
                supplier_id,
                await uow.lines.pending_for(supplier_id),
                held=record.held,
                escalated_at=record.escalated_at,
                cutoff_checked_through=record.cutoff_checked_through,
                last_release_at=record.last_release_at,
            )
        arrivals = ArrivalRate(decayed_units=record.arrival_units, updated_at=record.arrival_updated_at)
        departures = ArrivalRate(decayed_units=record.departure_units, updated_at=record.departure_updated_at)
        return OpenBatch(record, self.policy_of(record), batch, arrivals, departures)

    def policy_of(self, record: SupplierRecord) -> SupplierPolicy:
        if record.policy is None:
            return default_policy(record.supplier_id, self._default_max_wait_seconds)
        key = (record.supplier_id, record.policy_version)
        policy = self._policies.get(key)
        if policy is None:
            policy = policy_from_json(record.supplier_id, record.policy_version, record.policy)
            self._policies[key] = policy
        return policy

    async def save_all(
        self, uow: AggregatorUnitOfWork, opened: list[OpenBatch], figures: Mapping[str, Mapping[str, Any]]
    ) -> list[int]:
        """Write the batches' state, with their `figures` (by supplier), back to their rows in one statement;
        returns each one's new batch version."""
        changes = {}
        for batch_opened in opened:
            batch = batch_opened.batch
            oldest = batch.oldest
            changes[batch.supplier_id] = {
                "batch_version": batch_opened.record.batch_version + 1,
                "held": batch.held,
                "escalated_at": batch.escalated_at,
                "cutoff_checked_through": batch.cutoff_checked_through,
                "last_release_at": batch.last_release_at,
                "arrival_units": batch_opened.arrivals.decayed_units,
                "arrival_updated_at": batch_opened.arrivals.updated_at,
                "departure_units": batch_opened.departures.decayed_units,
                "departure_updated_at": batch_opened.departures.updated_at,
                "pending_lines": batch.line_count,
                "pending_units": batch.total_units,
                "pending_value": batch.total_value,
                "oldest_received_at": oldest.received_at if oldest else None,
                **figures.get(batch.supplier_id, {}),
            }
        await uow.suppliers.update_all(changes)
        return [changes[batch_opened.batch.supplier_id]["batch_version"] for batch_opened in opened]

    def keep(self, supplier_id: str, version: int, batch: PendingBatch) -> None:
        """After commit: the in-memory batch is the current one (kept if this replica consumes the supplier)."""
        if self._owned is None or supplier_id in self._owned:
            self._batches[supplier_id] = (version, batch)
