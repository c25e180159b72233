"""The supplier simulator's behaviour: orders, placement, faults, cancellations, acknowledgements, shipments."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from supplier_simulator.callbacks import CallbackDispatcher
from supplier_simulator.models import (
    AckIn,
    AckLine,
    CancelIn,
    LineQty,
    PurchaseOrderIn,
    ShipIn,
)
from supplier_simulator.settings import SimulatorSettings
from supplier_simulator.state import (
    EventType,
    LineState,
    OrderRecord,
    SimulatorState,
    StoredAnswer,
    utcnow_iso,
)

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"


class SimulatorError(Exception):
    """An error answer of the simulator (status code plus JSON body)."""

    def __init__(self, status_code: int, body: dict[str, Any]) -> None:
        super().__init__(body.get("error") or body.get("reason") or str(status_code))
        self.status_code = status_code
        self.body = body


def parse_body(model: type[BaseModel], raw: bytes, *, allow_empty: bool = False) -> Any:
    """Validate a raw JSON body, turning failures into a 422 answer."""
    if allow_empty and not raw.strip():
        raw = b"{}"
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        detail = json.loads(exc.json(include_url=False))
        raise SimulatorError(422, {"error": "invalid_body", "detail": detail}) from exc


class Simulator:
    """Behaviour of one simulated supplier, independent of the HTTP routing."""

    def __init__(self, settings: SimulatorSettings) -> None:
        self.settings = settings
        self.state = SimulatorState(settings.supplier_id, settings.state_file)
        self.callbacks = CallbackDispatcher(settings)
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        """Start background delivery."""
        await self.callbacks.start()

    async def stop(self) -> None:
        """Cancel scheduled side effects and stop delivery."""
        await self._cancel_tasks()
        await self.callbacks.stop()

    async def _cancel_tasks(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    def _spawn(self, coro: Any, name: str) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def reset(self) -> None:
        """Forget orders, faults, callbacks and scheduled side effects."""
        await self._cancel_tasks()
        self.callbacks.clear()
        self.state.reset()

    # -- supplier API ----------------------------------------------------------------
    async def place(self, key: str | None, raw: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Handle ``POST /purchase-orders``; returns status, body and extra headers."""
        injected = await self.injected_answer(key)
        if injected is not None:
            return injected
        faults = self.state.faults
        try:
            status, body, headers = self._place(key, raw)
        except SimulatorError as exc:
            self.state.log_request(key, "invalid", exc.status_code)
            raise
        if faults.crash_after_accept_next > 0 and status == 201:
            faults.crash_after_accept_next -= 1
            self.state.log_request(key, "crashed_after_accept", 500)
            return 500, {"error": "internal_error"}, {}
        self.state.log_request(key, "replayed" if headers else "processed", status)
        return status, body, headers

    async def injected_answer(self, key: str | None) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        """Armed delay, failure or rate limit of an incoming PO (also used by the X12 endpoint)."""
        faults = self.state.faults
        if faults.delay_seconds > 0 and (faults.delay_next is None or faults.delay_next > 0):
            if faults.delay_next is not None:
                faults.delay_next -= 1
            await asyncio.sleep(faults.delay_seconds)
        if faults.fail_next > 0:
            faults.fail_next -= 1
            self.state.log_request(key, "injected_failure", faults.status)
            return faults.status, {"error": "injected_failure"}, {}
        if faults.rate_limit_next > 0:
            faults.rate_limit_next -= 1
            self.state.log_request(key, "rate_limited", 429)
            if faults.retry_after_http_date:
                when = datetime.now(UTC) + timedelta(seconds=faults.retry_after)
                retry_after = format_datetime(when, usegmt=True)
            else:
                retry_after = f"{faults.retry_after:g}"
            return 429, {"error": "rate_limited"}, {"Retry-After": retry_after}
        return None

    def _place(self, key: str | None, raw: bytes) -> tuple[int, dict[str, Any], dict[str, str]]:
        if not key:
            raise SimulatorError(400, {"error": "missing_idempotency_key"})
        po: PurchaseOrderIn = parse_body(PurchaseOrderIn, raw)
        if key != po.po_number:
            raise SimulatorError(400, {"error": "idempotency_key_mismatch", "detail": "must equal po_number"})
        state = self.state
        faults = state.faults
        existing = state.orders.get(key)
        # A refused PO is not an order: sent again (after the merchant or the supplier fixed the cause),
        # it is judged afresh. Anything accepted is answered from the first answer.
        if existing is not None and not existing.rejected:
            existing.receipts += 1
            state.save()
            answer = existing.answer
            if faults.replay_with_409 and answer.status_code < 300:
                body = {"error": "duplicate_idempotency_key", **answer.body}
                return 409, body, {REPLAYED_HEADER: "true"}
            status = 200 if answer.status_code == 201 else answer.status_code
            return status, answer.body, {REPLAYED_HEADER: "true"}
        request = po.model_dump(mode="json")
        if faults.reject_next > 0:
            faults.reject_next -= 1
            body = {"error": "rejected", "reason": faults.reject_reason, "po_number": po.po_number}
            state.orders[key] = OrderRecord(
                po_number=po.po_number,
                supplier_order_id=None,
                received_at=utcnow_iso(),
                rejected=True,
                request=request,
                answer=StoredAnswer(status_code=422, body=body),
            )
            state.save()
            return 422, body, {}
        supplier_order_id = state.next_supplier_order_id()
        body = {"supplier_order_id": supplier_order_id, "status": "received"}
        order = OrderRecord(
            po_number=po.po_number,
            supplier_order_id=supplier_order_id,
            received_at=utcnow_iso(),
            request=request,
            answer=StoredAnswer(status_code=201, body=body),
            lines=[LineState(line_no=ln.line_no, sku=ln.sku, qty=ln.qty) for ln in po.lines],
        )
        state.orders[key] = order
        state.save()
        self._schedule_side_effects(order.po_number)
        return 201, body, {}

    def _schedule_side_effects(self, po_number: str) -> None:
        settings = self.settings
        if settings.auto_ack:
            self._spawn(self._auto_ack(po_number), f"auto-ack-{po_number}")
        if settings.auto_ship_after_seconds >= 0:
            self._spawn(self._auto_ship(po_number), f"auto-ship-{po_number}")

    async def _auto_ack(self, po_number: str) -> None:
        await asyncio.sleep(0)
        order = self.state.orders.get(po_number)
        if order is not None and not order.acknowledged and order.status != "cancelled":
            self.acknowledge(po_number, AckIn())

    async def _auto_ship(self, po_number: str) -> None:
        await asyncio.sleep(self.settings.auto_ship_after_seconds)
        order = self.state.orders.get(po_number)
        if order is not None and not order.rejected and any(ln.open_qty for ln in order.lines):
            self.ship(po_number, ShipIn())

    def cancel(self, po_number: str, key: str | None, raw: bytes) -> tuple[int, dict[str, Any]]:
        """Handle ``POST /purchase-orders/{po}/cancel``."""
        order = self._order(po_number)
        if key and key in order.cancel_answers:
            answer = order.cancel_answers[key]
            return answer.status_code, answer.body
        request: CancelIn = parse_body(CancelIn, raw, allow_empty=True)
        status, body = self.cancel_lines(order, request)
        if key:
            order.cancel_answers[key] = StoredAnswer(status_code=status, body=body)
        self.state.save()
        return status, body

    def cancel_lines(self, order: OrderRecord, request: CancelIn) -> tuple[int, dict[str, Any]]:
        """Cancel what ``request`` asks of ``order`` (JSON cancel endpoint and X12 860): 200 or 409 with why."""
        po = order.po_number
        if order.rejected:
            return 409, {"status": "rejected", "reason": "not_open", "po_number": po}
        if request.lines is None:
            wanted = [LineQty(line_no=ln.line_no, qty=ln.open_qty) for ln in order.lines if ln.open_qty]
            skipped = [
                {"line_no": ln.line_no, "qty": ln.shipped, "reason": "already_shipped"}
                for ln in order.lines
                if ln.shipped
            ]
            if not wanted:
                if skipped:
                    return 409, {"status": "rejected", "reason": "already_shipped", "po_number": po, "lines": skipped}
                return 200, {"status": "accepted", "po_number": po, "lines": [], "not_cancelled": []}
        else:
            wanted, skipped, problems = [], [], []
            for req in request.lines:
                line = order.line(req.line_no)
                if line is None:
                    raise SimulatorError(422, {"error": "unknown_line", "line_no": req.line_no})
                if req.qty > line.open_qty:
                    reason = "already_shipped" if line.shipped else "not_open"
                    problems.append({"line_no": req.line_no, "qty": req.qty, "open": line.open_qty, "reason": reason})
                wanted.append(req)
            if problems:
                reason = "already_shipped" if any(p["reason"] == "already_shipped" for p in problems) else "not_open"
                return 409, {"status": "rejected", "reason": reason, "po_number": po, "lines": problems}
        for req in wanted:
            line = order.line(req.line_no)
            assert line is not None
            line.cancelled += req.qty
        cancelled = [w.model_dump() for w in wanted]
        order.cancellations.append({"at": utcnow_iso(), "lines": cancelled})
        return 200, {"status": "accepted", "po_number": po, "lines": cancelled, "not_cancelled": skipped}

    def events(self, po_number: str, after: int) -> dict[str, Any]:
        """Handle ``GET /purchase-orders/{po}/events?after=``."""
        order = self._order(po_number)
        events = [e.model_dump(mode="json") for e in order.events if e.cursor > after]
        next_cursor = events[-1]["cursor"] if events else after
        return {"po_number": po_number, "events": events, "next_cursor": next_cursor}

    # -- side effects (also driven by the admin API) ---------------------------------
    def _order(self, po_number: str) -> OrderRecord:
        order = self.state.orders.get(po_number)
        if order is None:
            raise SimulatorError(404, {"error": "unknown_po", "po_number": po_number})
        return order

    def _emit(self, order: OrderRecord, event_type: EventType, body: dict[str, Any]) -> None:
        event = self.state.add_event(order, event_type, str(uuid.uuid4()), body)
        self.state.save()
        self.callbacks.submit(order.po_number, event)

    def acknowledge(self, po_number: str, request: AckIn) -> dict[str, Any]:
        """Create and send a PO acknowledgement; unlisted lines are accepted in full."""
        order = self._order(po_number)
        if order.rejected:
            raise SimulatorError(409, {"error": "po_rejected", "po_number": po_number})
        given = {ln.line_no: ln for ln in request.lines or []}
        for line_no in given:
            if order.line(line_no) is None:
                raise SimulatorError(422, {"error": "unknown_line", "line_no": line_no})
        lines = [
            given.get(ln.line_no) or AckLine(line_no=ln.line_no, status="accepted", qty=ln.qty) for ln in order.lines
        ]
        status = request.status
        if status is None:
            statuses = {ln.status for ln in lines}
            status = "accepted" if statuses == {"accepted"} else "rejected" if statuses == {"rejected"} else "partial"
        for ack_line in lines:
            if ack_line.status == "rejected":
                line = order.line(ack_line.line_no)
                assert line is not None
                line.rejected += min(ack_line.qty or line.qty, line.open_qty)
        body: dict[str, Any] = {
            "po_number": po_number,
            "status": status,
            "lines": [ln.model_dump(mode="json", exclude_none=True) for ln in lines],
        }
        order.acknowledged = True
        order.acknowledgements.append(body)
        self._emit(order, "acknowledgement", body)
        return body

    def ship(self, po_number: str, request: ShipIn) -> dict[str, Any]:
        """Create and send a shipment notice; no lines means every open quantity."""
        order = self._order(po_number)
        if order.rejected:
            raise SimulatorError(409, {"error": "po_rejected", "po_number": po_number})
        if request.lines is None:
            wanted = [LineQty(line_no=ln.line_no, qty=ln.open_qty) for ln in order.lines if ln.open_qty]
        else:
            wanted = request.lines
        if not wanted:
            raise SimulatorError(409, {"error": "nothing_to_ship", "po_number": po_number})
        for req in wanted:
            line = order.line(req.line_no)
            if line is None:
                raise SimulatorError(422, {"error": "unknown_line", "line_no": req.line_no})
            if req.qty > line.open_qty:
                raise SimulatorError(
                    409,
                    {"error": "exceeds_open_qty", "line_no": req.line_no, "qty": req.qty, "open": line.open_qty},
                )
        shipment_id = request.shipment_id or self.state.next_shipment_id()
        if self.state.shipment_id_taken(shipment_id):
            raise SimulatorError(409, {"error": "duplicate_shipment_id", "shipment_id": shipment_id})
        n_packages = min(request.packages, len(wanted))
        packages: list[dict[str, Any]] = []
        for index in range(n_packages):
            tracking = "1Z" + "".join(secrets.choice("0123456789") for _ in range(16))
            contents = [w.model_dump() for w in wanted[index::n_packages]]
            packages.append(
                {
                    "tracking_number": tracking,
                    "tracking_url": f"https://www.ups.com/track?tracknum={tracking}",
                    "lines": contents,
                }
            )
        for req in wanted:
            line = order.line(req.line_no)
            assert line is not None
            line.shipped += req.qty
        body: dict[str, Any] = {
            "shipment_id": shipment_id,
            "po_number": po_number,
            "shipped_at": utcnow_iso(),
            "carrier": request.carrier.model_dump(exclude_none=True),
            "packages": packages,
        }
        if request.service:
            body["service"] = request.service
        order.shipments.append(body)
        self._emit(order, "shipment", body)
        return body
