"""Resolves line cancellations: before sending, by leaving the line off the PO; after, by asking the
supplier (outside any transaction) and recording its answer with the outgoing event."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from dropship_shared.events import utcnow
from dropship_shared.logs import get_logger
from dropship_shared.unit_of_work import UnitOfWorkFactory
from supplier_gateway.adapters.cancellation_repository import LineCancellationRequest
from supplier_gateway.domain.purchase_order import PurchaseOrder, PurchaseOrderError, PurchaseOrderState
from supplier_gateway.domain.supplier import Supplier, SupplierProtocol
from supplier_gateway.domain.supplier_exception import Anomaly, ExceptionKind
from supplier_gateway.service_layer.edi_outbound import X12LineCancellation
from supplier_gateway.service_layer.supplier_exceptions import file_anomalies, file_exception
from supplier_gateway.service_layer.supplier_port import (
    CancellationAnswer,
    PurchaseOrderChannel,
    SupplierRefused,
    SupplierUnreachable,
)
from supplier_gateway.service_layer.unit_of_work import GatewayUnitOfWork

log = get_logger(__name__)


@dataclass(frozen=True)
class CancellationPolicy:
    interval_seconds: float = 2.0
    lease_seconds: float = 300.0
    batch_size: int = 20
    retry_base_seconds: float = 2.0
    retry_max_seconds: float = 300.0
    unanswered_after_attempts: int = 3  # unclear answers or timeouts this many times: operations hear of it

    def retry_delay(self, attempts: int) -> float:
        return float(min(self.retry_base_seconds * 2 ** max(attempts - 1, 0), self.retry_max_seconds))


class LineCancellationResolver:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory[GatewayUnitOfWork],
        http: PurchaseOrderChannel,
        policy: CancellationPolicy,
        x12: X12LineCancellation,
    ) -> None:
        self._uow = uow_factory
        self._http = http
        self._policy = policy
        self._x12 = x12

    async def run(self) -> None:
        while True:
            await self.resolve_due()
            await asyncio.sleep(self._policy.interval_seconds)

    async def resolve_due(self) -> int:
        async with self._uow() as uow:
            claimed = await uow.cancellations.claim_due(
                utcnow(), timedelta(seconds=self._policy.lease_seconds), self._policy.batch_size
            )
            await uow.commit()
        for request in claimed:
            try:
                await self.resolve(request)
            except Exception as exc:
                log.exception("line cancellation failed", po_number=request.po_number)
                await self._postpone(request, repr(exc))
        return len(claimed)

    async def resolve(self, request: LineCancellationRequest) -> None:
        waiting_reason = await self._resolve_locally(request)
        if waiting_reason is None:
            return
        if waiting_reason:
            await self._postpone(request, waiting_reason)
            return
        async with self._uow() as uow:
            supplier = await uow.suppliers.get(request.supplier_id)
        if supplier is None:
            await self._postpone(request, f"supplier {request.supplier_id!r} is not registered")
            return
        if supplier.protocol is SupplierProtocol.X12:
            await self._ask_x12(supplier, request)
            return
        try:
            answer = await self._http.cancel_line(
                supplier,
                request.po_number,
                request.line_no,
                request.quantity,
                f"{request.po_number}:cancel:{request.request_event_id}",
            )
        except SupplierUnreachable as exc:  # no clear answer: ask again, never assume either way
            await self._postpone(request, str(exc), unanswered=True)
            return
        refusal = await self._record_answer(request, answer)
        if refusal is not None:
            await self._postpone(request, refusal)

    async def _ask_x12(self, supplier: Supplier, request: LineCancellationRequest) -> None:
        """The 860 goes out; the supplier's 865 on /edi resolves the request. Until then it waits, and when it
        comes due again the very same 860 is sent again."""
        try:
            await self._x12.ask(supplier, request)
        except (SupplierRefused, SupplierUnreachable) as exc:
            await self._postpone(request, str(exc))
            return
        await self._postpone(request, "860 sent; waiting for the supplier's 865")

    async def _resolve_locally(self, request: LineCancellationRequest) -> str | None:
        """Cancel here when the PO never left; "" when the supplier must be asked; a reason to wait otherwise;
        None once resolved."""
        async with self._uow() as uow:
            now = utcnow()
            po = await uow.purchase_orders.get(request.po_number, for_update=True)
            status = await uow.dispatch.status(request.po_number)
            if po is None or status is None:
                return "purchase order not known yet"
            if not await uow.cancellations.still_pending(request.request_id):
                return None  # answered meanwhile (an 865, or another replica that took the request over)
            if po.state is PurchaseOrderState.REQUESTED and (status.send_attempts or status.leased(now)):
                # it may be at the supplier already (an attempt whose answer we never got): ask the supplier
                # once the PO is recorded as placed, or cancel here if the supplier refuses the PO
                return "purchase order is being sent"
            if not po.cancellable_without_supplier:
                return ""
            await record_cancellation_answer(uow, po, request, CancellationAnswer(accepted=True), now)
            await uow.commit()
            return None

    async def _record_answer(self, request: LineCancellationRequest, answer: CancellationAnswer) -> str | None:
        async with self._uow() as uow:
            po = await uow.purchase_orders.get(request.po_number, for_update=True)
            if po is None:
                return "purchase order vanished"
            if not await uow.cancellations.still_pending(request.request_id):
                # recorded by another replica (its lease is not renewed): the supplier answered both of them
                # from the first receipt of the request's Idempotency-Key; recording it twice would cancel twice
                log.info("line cancellation already resolved", po_number=request.po_number, line_no=request.line_no)
                return None
            try:
                await record_cancellation_answer(uow, po, request, answer, utcnow())
            except PurchaseOrderError as exc:  # the PO's state refuses it: nothing was written
                return str(exc)
            await uow.commit()
            return None

    async def _postpone(self, request: LineCancellationRequest, reason: str, unanswered: bool = False) -> None:
        async with self._uow() as uow:
            now = utcnow()
            until = now + timedelta(seconds=self._policy.retry_delay(request.attempts))
            await uow.cancellations.postpone(request.request_id, until, reason)
            if unanswered and request.attempts >= self._policy.unanswered_after_attempts:
                detail = (
                    f"PO {request.po_number} line {request.line_no}: no clear answer to our cancel request after "
                    f"{request.attempts} tries ({reason}); still asking, the line stays as it was"
                )
                anomaly = Anomaly(ExceptionKind.CANCEL_UNANSWERED, detail, request.line_no, request.backorder_line_id)
                source = f"cancel request {request.request_event_id}"
                await file_exception(uow, anomaly, request.supplier_id, request.po_number, source, now)
            await uow.commit()
        log.warning("line cancellation postponed", po_number=request.po_number, reason=reason)


async def record_cancellation_answer(
    uow: GatewayUnitOfWork,
    po: PurchaseOrder,
    request: LineCancellationRequest,
    answer: CancellationAnswer,
    now: datetime,
) -> None:
    """The supplier's answer to a cancel request (or our own cancellation of a line not sent yet), in the
    caller's transaction; a PurchaseOrderError, before anything is written, when the PO's state refuses it."""
    async with uow.changing(po):
        if answer.accepted:
            po.cancel_line(request.backorder_line_id, request.quantity, now)
        else:
            po.refuse_line_cancellation(request.backorder_line_id, answer.reason or "no reason given")
    await file_anomalies(uow, po, f"cancel request {request.request_event_id}", now, answer.reason)
    await uow.cancellations.resolve(request.request_id, "cancelled" if answer.accepted else "refused", now)
