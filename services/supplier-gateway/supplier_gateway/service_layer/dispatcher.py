"""Sends requested POs to their suppliers: leased across replicas, one worker per supplier, retried later
when a supplier is away, recorded (and announced) only after the supplier answered.

A lease is short and renewed while the replica works on the PO (a heartbeat, every third of the lease, one
statement for all the POs the replica holds): a replica that dies lets its POs go after one lease, and a live
one keeps its PO through a supplier call of any length. A renewal that finds a PO taken over or no longer
requested stops the work on it, and nothing of that attempt is recorded."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from dropship_shared.events import utcnow
from dropship_shared.logs import get_logger
from dropship_shared.tracing import continuing, tracing_enabled
from dropship_shared.unit_of_work import UnitOfWorkFactory
from supplier_gateway.domain.purchase_order import PurchaseOrder, PurchaseOrderError, PurchaseOrderState
from supplier_gateway.domain.supplier import Supplier, SupplierProtocol
from supplier_gateway.domain.supplier_exception import ExceptionKind
from supplier_gateway.service_layer.purchase_order_failures import fail_requested
from supplier_gateway.service_layer.supplier_health import SupplierCallLog
from supplier_gateway.service_layer.supplier_port import (
    Placement,
    PurchaseOrderChannel,
    SupplierRefused,
    SupplierUnreachable,
)
from supplier_gateway.service_layer.unit_of_work import GatewayUnitOfWork

log = get_logger(__name__)

# Places a PO over a document protocol (X12): builds or reuses the stored interchange and sends it.
DocumentPlacement = Callable[[Supplier, PurchaseOrder], Awaitable[Placement]]


@dataclass(frozen=True)
class DispatchPolicy:
    interval_seconds: float = 1.0
    # Renewed every third of it while the PO is being sent, so it need not outlast a slow placement: a
    # crashed replica's POs are picked up by another one after this long, and re-sent under the same
    # idempotency key.
    lease_seconds: float = 30.0
    batch_size: int = 20
    concurrency_per_supplier: int = 4
    retry_base_seconds: float = 2.0
    retry_max_seconds: float = 300.0
    # a supplier down this long or this often: the PO fails (the customers hear of it), operations too;
    # a supplier's own registered limits win over these
    give_up_attempts: int = 20
    give_up_seconds: float = 86400.0

    def gives_up(self, attempts: int, age_seconds: float, supplier: Supplier | None = None) -> bool:
        most_attempts = self.give_up_attempts
        longest = self.give_up_seconds
        if supplier is not None:
            most_attempts = supplier.give_up_attempts or most_attempts
            longest = supplier.give_up_seconds or longest
        return attempts >= most_attempts or age_seconds >= longest

    def retry_delay(self, attempts: int, retry_after: float | None) -> float:
        backoff = min(self.retry_base_seconds * 2.0 ** max(attempts - 1, 0), self.retry_max_seconds)
        return max(backoff, retry_after or 0.0)

    @property
    def renewal_seconds(self) -> float:
        return self.lease_seconds / 3


class PurchaseOrderDispatcher:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory[GatewayUnitOfWork],
        http: PurchaseOrderChannel,
        x12: DocumentPlacement,
        policy: DispatchPolicy,
        owner: str,
        wake: asyncio.Event | None = None,
        calls: SupplierCallLog | None = None,
    ) -> None:
        self._uow = uow_factory
        self.calls = calls or SupplierCallLog()
        self._http = http
        self._x12 = x12
        self._policy = policy
        self._owner = owner
        self._wake = wake or asyncio.Event()
        self._workers: dict[str, asyncio.Task[None]] = {}
        # the POs this replica holds a lease on: the task working on each, and when (monotonic) its lease
        # runs out as far as this replica knows (the last renewal that went through)
        self._held: dict[str, asyncio.Task[None]] = {}
        self._lease_ends: dict[str, float] = {}
        self._renewal: asyncio.Task[None] | None = None

    async def run(self) -> None:
        try:
            while True:
                await self.dispatch_due()
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self._policy.interval_seconds)
        finally:
            for task in self._workers.values():
                task.cancel()
            self._workers.clear()
            if self._renewal is not None:
                self._renewal.cancel()

    @property
    def held(self) -> frozenset[str]:
        """The POs this replica is working on under its lease."""
        return frozenset(self._held)

    async def dispatch_due(self) -> None:
        """Start a worker for every supplier with due POs that has none running: a slow or dead supplier
        only ever holds up its own POs."""
        async with self._uow() as uow:
            supplier_ids = await uow.dispatch.suppliers_with_due_orders(utcnow())
        for supplier_id in supplier_ids:
            running = self._workers.get(supplier_id)
            if running is None or running.done():
                self._workers[supplier_id] = asyncio.create_task(
                    self._work(supplier_id), name=f"dispatch-{supplier_id}"
                )

    async def drain(self) -> None:
        """Dispatch until nothing is due right now (tests and the CLI)."""
        await self.dispatch_due()
        while self._workers:
            await asyncio.gather(*self._workers.values(), return_exceptions=True)
            self._workers = {key: task for key, task in self._workers.items() if not task.done()}
        if self._renewal is not None and not self._held:
            self._renewal.cancel()

    async def _work(self, supplier_id: str) -> None:
        limit = asyncio.Semaphore(self._policy.concurrency_per_supplier)

        async def send_one(supplier: Supplier, po_number: str) -> None:
            async with limit:
                await self.send(supplier, po_number)

        while True:
            leased_at = time.monotonic()
            async with self._uow() as uow:
                now = utcnow()
                supplier = await uow.suppliers.get(supplier_id)
                if supplier is not None and not supplier.active:
                    # held: its POs wait, untouched (never tried, so still cancellable here)
                    until = now + timedelta(seconds=self._policy.retry_max_seconds)
                    reason = f"supplier {supplier_id!r} is on hold"
                    await uow.dispatch.postpone_due(supplier_id, now, until, reason)
                    await uow.commit()
                    return
                claimed = await uow.dispatch.claim_due(
                    supplier_id,
                    self._owner,
                    now,
                    timedelta(seconds=self._policy.lease_seconds),
                    self._policy.batch_size,
                )
                await uow.commit()
            if not claimed:
                return
            if supplier is None:
                reason = f"supplier {supplier_id!r} is not registered with the gateway"
                for po_number in claimed:
                    await self._fail(po_number, reason, ExceptionKind.SUPPLIER_NOT_REGISTERED)
                continue
            sending = {po_number: asyncio.create_task(send_one(supplier, po_number)) for po_number in claimed}
            self._hold(sending, leased_at + self._policy.lease_seconds)
            try:
                outcomes = await asyncio.gather(*sending.values(), return_exceptions=True)
            finally:
                for po_number in sending:
                    self._held.pop(po_number, None)
                    self._lease_ends.pop(po_number, None)
            for po_number, outcome in zip(sending, outcomes, strict=True):
                if isinstance(outcome, Exception):
                    log.error("sending purchase order failed", po_number=po_number, error=repr(outcome))

    def _hold(self, sending: dict[str, asyncio.Task[None]], lease_ends: float) -> None:
        self._held.update(sending)
        self._lease_ends.update(dict.fromkeys(sending, lease_ends))
        if self._renewal is None or self._renewal.done():
            self._renewal = asyncio.create_task(self._keep_leases(), name="dispatch-lease-renewal")

    async def _keep_leases(self) -> None:
        """Renew the leases of every PO this replica holds while it holds any (its heartbeat)."""
        while self._held:
            await asyncio.sleep(self._policy.renewal_seconds)
            await self.renew_leases()

    async def renew_leases(self) -> None:
        """One statement for all the POs held. Those taken over or changed meanwhile, and those whose lease ran
        out before a renewal went through (the database was unreachable: another replica may have them), are
        let go: their sending stops, and nothing of it is recorded."""
        if not self._held:
            return
        asked = list(self._held)
        started = time.monotonic()
        lease = timedelta(seconds=self._policy.lease_seconds)
        try:
            # a renewal stuck on an unreachable database must not outlast the leases it is meant to keep
            async with asyncio.timeout(self._policy.renewal_seconds), self._uow() as uow:
                renewed = await uow.dispatch.renew(self._owner, asked, utcnow() + lease)
                await uow.commit()
        except Exception as exc:  # the database is away: try again at the next beat, while the leases last
            log.warning("purchase order leases not renewed", error=repr(exc), held=len(asked))
            lost = [po_number for po_number in asked if self._lease_ends.get(po_number, 0.0) <= time.monotonic()]
            reason = "lease ran out before it could be renewed"
        else:
            for po_number in renewed:
                if po_number in self._lease_ends:
                    self._lease_ends[po_number] = started + self._policy.lease_seconds
            lost = [po_number for po_number in asked if po_number not in renewed]
            reason = "lease taken over or purchase order changed"
        for po_number in lost:
            self._let_go(po_number, reason)

    def _let_go(self, po_number: str, reason: str) -> None:
        task = self._held.pop(po_number, None)
        self._lease_ends.pop(po_number, None)
        if task is not None and not task.done():
            task.cancel()
            log.warning("stopped sending purchase order", po_number=po_number, reason=reason)

    async def send(self, supplier: Supplier, po_number: str) -> None:
        """Place one leased PO; nothing is held open while the supplier is called."""
        async with self._uow() as uow:
            po = await uow.purchase_orders.get(po_number)
            traceparent = await uow.dispatch.traceparent(po_number) if tracing_enabled() else None
        with continuing("place purchase order", traceparent, po_number=po_number, supplier_id=supplier.supplier_id):
            await self._place(supplier, po_number, po)

    async def _place(self, supplier: Supplier, po_number: str, po: PurchaseOrder | None) -> None:
        if po is None or po.state is not PurchaseOrderState.REQUESTED:
            await self._postpone(po_number, None, None, None)
            return
        try:
            if supplier.protocol is SupplierProtocol.X12:
                placement = await self._x12(supplier, po)
            else:
                placement = await self._http.place(supplier, po)
        except SupplierRefused as exc:
            self.calls.failed(supplier.supplier_id, exc.reason, utcnow(), refused=True)
            await self._fail(po_number, exc.reason, ExceptionKind.PURCHASE_ORDER_REFUSED)
        except SupplierUnreachable as exc:
            self.calls.failed(supplier.supplier_id, exc.reason, utcnow())
            await self._postpone(po_number, exc.reason, exc.retry_after, supplier)
        except Exception as exc:  # a bug or an unexpected answer: keep the PO, try again later
            log.exception("placing purchase order failed", po_number=po_number)
            self.calls.failed(supplier.supplier_id, repr(exc), utcnow())
            await self._postpone(po_number, repr(exc), None, supplier)
        else:
            self.calls.succeeded(supplier.supplier_id, utcnow())
            await self._record_placed(po_number, placement)

    async def _record_placed(self, po_number: str, placement: Placement) -> None:
        async with self._uow() as uow:
            if not await uow.dispatch.holds(po_number, self._owner):
                self._not_recorded(po_number, "placed")
                return
            po = await uow.purchase_orders.get(po_number, for_update=True)
            if po is not None:
                uow.correlation_id = po.correlation_id
                try:
                    po.mark_placed(placement.supplier_order_id, utcnow())
                except PurchaseOrderError as exc:
                    log.error("placed purchase order could not be recorded", po_number=po_number, error=str(exc))
                await uow.purchase_orders.save(po)
            await uow.dispatch.release(po_number, self._owner)
            await uow.commit()
        log.info("purchase order placed", po_number=po_number, replayed=placement.replayed)

    async def _fail(self, po_number: str, reason: str, kind: ExceptionKind) -> None:
        """The PO will not be placed: it fails (the orders service tells the customers), operations hear of it."""
        async with self._uow() as uow:
            if not await uow.dispatch.holds(po_number, self._owner):
                self._not_recorded(po_number, "failed")
                return
            await fail_requested(uow, po_number, reason, kind)
            await uow.dispatch.release(po_number, self._owner, error=reason)
            await uow.commit()
        log.warning("purchase order failed", po_number=po_number, reason=reason, kind=kind.value)

    async def _postpone(
        self, po_number: str, reason: str | None, retry_after: float | None, supplier: Supplier | None
    ) -> None:
        """Release the PO; with a supplier, it waits for its next try, or fails if that supplier's limits
        (or the gateway's) are used up."""
        async with self._uow() as uow:
            if not await uow.dispatch.holds(po_number, self._owner):
                self._not_recorded(po_number, "postponed")
                return
            next_attempt_at = None
            if supplier is not None:
                now = utcnow()
                status = await uow.dispatch.status(po_number)
                po = await uow.purchase_orders.get(po_number)
                attempts = status.send_attempts if status else 1
                age = (now - po.created_at).total_seconds() if po else 0.0
                if self._policy.gives_up(attempts, age, supplier):
                    gave_up = f"gave up after {attempts} attempts over {age:.0f} s; last: {reason}"
                    await fail_requested(uow, po_number, gave_up, ExceptionKind.SUPPLIER_UNREACHABLE)
                    reason = gave_up
                else:
                    next_attempt_at = now + timedelta(seconds=self._policy.retry_delay(attempts, retry_after))
            await uow.dispatch.release(po_number, self._owner, next_attempt_at, reason)
            await uow.commit()
        if reason:
            log.warning("purchase order not placed", po_number=po_number, reason=reason, retry_at=next_attempt_at)

    def _not_recorded(self, po_number: str, outcome: str) -> None:
        """Another replica took the PO over after this one's lease ran out: its own attempt is the one recorded
        (the supplier answers both from the first receipt of the idempotency key)."""
        log.warning("purchase order taken over; this attempt not recorded", po_number=po_number, outcome=outcome)
