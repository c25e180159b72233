"""EDI X12 mode (``SIMULATOR_PROTOCOL=x12``): the simulator as an X12 trading partner.

``POST /edi`` takes signed interchanges of 850s (and 860 cancellations, answered by an 865) from the
gateway, checks them with the shared X12 codec (dropship_x12) and answers with a 997 (accepted or rejected
with the reason). Every accepted 850 becomes an order in the shared state (an interchange seen before, same
sender + ISA13, or a PO number seen before, only counts a receipt). Acknowledgements and shipment notices
(automatic or through the admin API) go to ``callback_url`` as signed 855/856 interchanges, after the 997
itself, with increasing control numbers; the 997 the gateway answers with is read and kept on the delivery
record.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal

import httpx
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from dropship_shared.signing import SignatureError, verify
from dropship_x12 import (
    AckLine,
    Carrier,
    Interchange,
    LineCancellation,
    LineChangeAnswer,
    Package,
    Partners,
    PurchaseOrder850,
    PurchaseOrderAcknowledgement,
    PurchaseOrderChange,
    PurchaseOrderChangeAcknowledgement,
    SetKey,
    ShipNotice,
    ShippedItem,
    TransactionSet,
    X12Error,
    acknowledgement_report,
    build_855,
    build_856,
    build_865,
    build_997_document,
    envelope,
    parse_850,
    parse_860,
    parse_997,
    read_interchanges,
    reject_sets,
    serialize_interchange,
)
from supplier_simulator import models
from supplier_simulator.callbacks import CallbackDispatcher, CallbackRecord
from supplier_simulator.settings import SimulatorSettings
from supplier_simulator.simulator import Simulator, SimulatorError
from supplier_simulator.state import (
    LineState,
    OrderRecord,
    ReceivedInterchange,
    SimulatorState,
    StoredAnswer,
    SupplierEvent,
    utcnow_iso,
)

log = logging.getLogger(__name__)

X12_MEDIA_TYPE = "application/edi-x12"
STATUS_HEADER = "X-Interchange-Status"
SUPPORTED_SETS = frozenset({"850", "860"})
ACK_CODES = {"accepted": "IA", "backordered": "IB", "rejected": "IR"}
ACK_TYPES = {"accepted": "AD", "partial": "AC", "rejected": "RD"}


class X12CallbackRecord(CallbackRecord):
    """A delivery of one of our interchanges, with the gateway's answer (its 997 and status)."""

    control_number: str
    interchange: str
    reply: str | None = None
    reply_status: str | None = None


class X12Dispatcher(CallbackDispatcher):
    """Delivers 997/855/856 interchanges instead of JSON bodies (same queue, retries, admin API)."""

    def __init__(self, settings: SimulatorSettings, state: SimulatorState) -> None:
        super().__init__(settings)
        self._state = state
        self.partners = Partners(
            sender_qualifier=settings.x12_isa_qualifier,
            sender_id=settings.x12_isa_id,
            receiver_qualifier=settings.partner_isa_qualifier,
            receiver_id=settings.partner_isa_id,
            application_sender_id=settings.x12_gs_id,
            application_receiver_id=settings.partner_gs_id,
        )

    def next_control_number(self) -> int:
        """Our next ISA13 (= GS06 = ST02): never reused, persisted with the state."""
        self._state.data.x12_control_number += 1
        self._state.save()
        return self._state.data.x12_control_number

    def document(self, transactions: list[TransactionSet], functional_id: str, number: int) -> str:
        return serialize_interchange(
            envelope(
                transactions,
                partners=self.partners,
                functional_id=functional_id,
                interchange_control_number=number,
                group_control_number=number,
                prepared_at=datetime.now(UTC),
            )
        )

    def submit(self, po_number: str, event: SupplierEvent) -> CallbackRecord | None:
        """An acknowledgement as an 855, a shipment notice as an 856 (the JSON body stays on the record)."""
        if not self.enabled:
            return None
        order = self._state.orders[po_number]
        number = self.next_control_number()
        if event.type == "acknowledgement":
            text = self.document([purchase_order_ack(event.body, order, number)], "PR", number)
        else:
            text = self.document([ship_notice(event.body, order, number)], "SH", number)
        return self.submit_interchange(event.type, po_number, text, number, event.body, event.event_id)

    def submit_interchange(
        self,
        kind: str,
        po_number: str,
        text: str,
        number: int,
        body: dict[str, Any] | None = None,
        event_id: str | None = None,
    ) -> X12CallbackRecord | None:
        if not self.enabled:
            return None
        record = X12CallbackRecord(
            event_id=event_id or str(uuid.uuid4()),
            type=kind,
            po_number=po_number,
            url=self.url_for(kind),
            body=body or {},
            control_number=str(number).zfill(9),
            interchange=text,
        )
        self.records.append(record)
        self._queue.put_nowait(record)
        return record

    def payload(self, record: CallbackRecord) -> tuple[bytes, str]:
        if isinstance(record, X12CallbackRecord):
            return record.interchange.encode("utf-8"), X12_MEDIA_TYPE
        return super().payload(record)

    def accepted(self, record: CallbackRecord, response: httpx.Response) -> None:
        """Keep the gateway's 997 and what it says (accepted / rejected / duplicate ...)."""
        if not isinstance(record, X12CallbackRecord):
            return
        record.reply = response.text or None
        statuses = dict(
            part.split("=", 1) for part in response.headers.get(STATUS_HEADER, "").split(",") if "=" in part
        )
        status = statuses.get(record.control_number)
        try:
            acks = (
                [
                    parse_997(transaction)
                    for interchange in read_interchanges(response.content)
                    for group in interchange.groups
                    for transaction in group.transactions
                    if transaction.code == "997"
                ]
                if response.content.strip()
                else []
            )
        except X12Error as exc:
            status = status or "unreadable_997"
            log.warning("interchange %s: the gateway's answer is no readable 997: %s", record.control_number, exc)
            acks = []
        if status is None and acks:
            status = "accepted" if all(a.accepted for a in acks) else "rejected"
        record.reply_status = status or "sent"
        if any(not a.accepted for a in acks) or status in ("rejected", "partial"):
            log.warning("the gateway's 997 rejected our interchange %s (%s)", record.control_number, status)


def purchase_order_ack(body: Mapping[str, Any], order: OrderRecord, number: int) -> TransactionSet:
    """An acknowledgement body (as in the HTTP mode) as an 855: BAK, PO1 + ACK per line."""
    ordered = {line.line_no: line.qty for line in order.lines}
    lines = tuple(
        AckLine(
            line_no=line["line_no"],
            ack_code=ACK_CODES[line["status"]],
            quantity=Decimal(line["qty"]),
            ordered_quantity=Decimal(ordered.get(line["line_no"], line["qty"])),
            expected_ship_date=date.fromisoformat(line["expected_ship_date"])
            if line.get("expected_ship_date")
            else None,
            reason=line.get("reason"),
        )
        for line in body["lines"]
    )
    ack = PurchaseOrderAcknowledgement(
        po_number=body["po_number"], ack_type=ACK_TYPES[body["status"]], ack_date=datetime.now(UTC).date(), lines=lines
    )
    return build_855(ack, number)


def ship_notice(body: Mapping[str, Any], order: OrderRecord, number: int) -> TransactionSet:
    """A shipment notice body as an 856: HL shipment → order → pack (tracking in MAN*CP) → item."""
    requested = {line["line_no"]: line for line in order.request.get("lines", [])}

    def item(line_no: int, qty: int) -> ShippedItem:
        line = requested.get(line_no, {})
        ids = [("BP", line["buyer_sku"])] if line.get("buyer_sku") else []
        ids += [("VP", line["sku"])] if line.get("sku") else []
        return ShippedItem(line_no, Decimal(qty), tuple(ids))

    carrier = body.get("carrier") or {}
    notice = ShipNotice(
        shipment_id=body["shipment_id"],
        po_number=body["po_number"],
        shipped_date=datetime.fromisoformat(body["shipped_at"]).date(),
        carrier=Carrier(scac=carrier.get("scac"), name=carrier.get("name"), service_level=body.get("service")),
        packages=tuple(
            Package(
                items=tuple(item(content["line_no"], content["qty"]) for content in package["lines"]),
                tracking_number=package.get("tracking_number"),
            )
            for package in body["packages"]
        ),
    )
    return build_856([notice], number, datetime.now(UTC))


Action = Literal["new", "duplicate", "reject"]


@dataclasses.dataclass
class _Placed:
    po_number: str
    action: Action
    reason: str = ""


class X12Endpoint:
    """``POST /edi``: signature, faults, 850s in, 997 out."""

    def __init__(self, sim: Simulator, dispatcher: X12Dispatcher) -> None:
        self.sim = sim
        self.dispatcher = dispatcher

    @property
    def state(self) -> SimulatorState:
        return self.sim.state

    async def receive(self, raw: bytes, headers: Mapping[str, str]) -> Response:
        settings = self.sim.settings
        try:
            verify(settings.secret, raw, headers)
        except SignatureError as exc:
            raise SimulatorError(401, {"error": "signature_refused", "reason": exc.reason}) from exc
        try:
            interchanges = read_interchanges(raw)
        except X12Error as exc:
            self.state.log_request(None, "unreadable", 400)
            raise SimulatorError(400, {"error": "unreadable_interchange", "detail": str(exc)}) from exc
        expected = (
            (settings.partner_isa_qualifier, settings.partner_isa_id),
            (settings.x12_isa_qualifier, settings.x12_isa_id),
        )
        for interchange in interchanges:
            found = (
                (interchange.sender_qualifier.strip(), interchange.sender_id.strip()),
                (interchange.receiver_qualifier.strip(), interchange.receiver_id.strip()),
            )
            if found != expected:
                self.state.log_request(None, "foreign_interchange", 422)
                raise SimulatorError(
                    422,
                    {"error": "foreign_interchange", "control_number": interchange.control_number, "from_to": found},
                )
        key = ",".join(_po_numbers(interchanges)) or ",".join(i.control_number for i in interchanges)
        injected = await self.sim.injected_answer(key)
        if injected is not None:
            status, body, extra = injected
            return JSONResponse(body, status_code=status, headers=extra)
        outcomes = [self._receive(interchange) for interchange in interchanges]
        faults = self.state.faults
        if faults.crash_after_accept_next > 0 and any(o.status != "duplicate" for o in outcomes):
            faults.crash_after_accept_next -= 1
            self.state.log_request(key, "crashed_after_accept", 500)
            return JSONResponse({"error": "internal_error"}, status_code=500)
        return Response(
            "".join(o.reply or "" for o in outcomes),
            media_type=X12_MEDIA_TYPE,
            headers={STATUS_HEADER: ",".join(f"{o.control_number}={o.status}" for o in outcomes)},
        )

    def _receive(self, interchange: Interchange) -> ReceivedInterchange:
        state = self.state
        sender = f"{interchange.sender_qualifier.strip()}:{interchange.sender_id.strip()}"
        control = interchange.control_number.strip()
        known = state.data.x12_received.get(f"{sender}:{control}")
        if known is not None:
            known.receipts += 1
            for po_number in known.po_numbers:
                order = state.orders.get(po_number)
                if order is not None:
                    order.receipts += 1
                state.log_request(po_number, "replayed", 200)
            state.save()
            return known.model_copy(update={"status": "duplicate"})

        report = acknowledgement_report(interchange, SUPPORTED_SETS)
        refused: dict[SetKey, str] = {}
        purchase_orders: list[PurchaseOrder850] = []
        changes: list[PurchaseOrderChange] = []
        for gi, (group, group_report) in enumerate(zip(interchange.groups, report.groups, strict=True)):
            if group_report.errors:
                continue
            for si, (transaction, set_report) in enumerate(zip(group.transactions, group_report.sets, strict=True)):
                if not set_report.accepted:
                    continue
                try:
                    if transaction.code == "860":
                        changes.append(parse_860(transaction))
                        continue
                    po = parse_850(transaction)
                    if not po.lines:
                        raise X12Error(f"850 {transaction.control_number}: no PO1 lines")
                except X12Error as exc:
                    refused[(gi, si)] = str(exc)
                else:
                    purchase_orders.append(po)
        report = reject_sets(report, refused)
        reply = None
        number = 0
        if any(group.functional_id != "FA" for group in interchange.groups):
            number = self.dispatcher.next_control_number()
            reply = build_997_document(
                interchange,
                supported_sets=SUPPORTED_SETS,
                interchange_control_number=number,
                group_control_number=number,
                first_set_control_number=number,
                prepared_at=datetime.now(UTC),
                report=report,
            )
        placed = [self._place(po, control) for po in purchase_orders]
        if all(group.accepted for group in report.groups):
            status = "accepted"
        elif any(group.accepted_count for group in report.groups if not group.errors):
            status = "partial"
        else:
            status = "rejected"
            for issue in report.all_issues():
                log.warning("interchange %s from %s rejected: %s", control, sender, issue.message)
        received = ReceivedInterchange(
            sender=sender,
            control_number=control,
            received_at=utcnow_iso(),
            status=status,
            po_numbers=[p.po_number for p in placed],
            reply=reply,
        )
        state.data.x12_received[f"{sender}:{control}"] = received
        state.save()
        if reply is not None and self.sim.settings.x12_send_997:
            self.dispatcher.submit_interchange("997", ",".join(received.po_numbers), reply, number)
        for done in placed:  # after the 997, so the gateway hears "received" before "acknowledged"
            if done.action == "new":
                self.sim._schedule_side_effects(done.po_number)
            elif done.action == "reject":
                self._reject(done.po_number, done.reason)
        for change in changes:
            self._answer_change(change)
        return received

    def _answer_change(self, change: PurchaseOrderChange) -> None:
        """An 860 cancels lines as ``POST /purchase-orders/{po}/cancel`` would; the answer goes back as an 865."""
        answers = []
        order = self.state.orders.get(change.po_number)
        for line in change.lines:
            if order is None:
                answers.append(LineChangeAnswer(line.line_no, "refused", "IR", "unknown purchase order"))
                continue
            try:
                status, body = self.sim.cancel_lines(order, models.CancelIn(lines=[_cancelled(line)]))
            except SimulatorError as exc:
                status, body = exc.status_code, exc.body
            if status == 200:
                answers.append(LineChangeAnswer(line.line_no, "accepted", "IA"))
            else:
                answers.append(LineChangeAnswer(line.line_no, "refused", "IR", str(body.get("reason") or body)))
        self.state.save()
        ack = PurchaseOrderChangeAcknowledgement(change.po_number, "AC", datetime.now(UTC).date(), tuple(answers))
        number = self.dispatcher.next_control_number()
        text = self.dispatcher.document([build_865(ack, number)], "CA", number)
        self.dispatcher.submit_interchange("865", change.po_number, text, number)

    def _place(self, po: PurchaseOrder850, control: str) -> _Placed:
        """Record one accepted 850 as an order, once per PO number."""
        state = self.state
        existing = state.orders.get(po.po_number)
        if existing is not None:
            existing.receipts += 1
            state.log_request(po.po_number, "replayed", 200)
            return _Placed(po.po_number, "duplicate")
        request = {
            "po_number": po.po_number,
            "currency": po.currency,
            "interchange": control,
            "lines": [
                {
                    "line_no": line.line_no,
                    "sku": line.vendor_part_number,
                    "buyer_sku": line.buyer_part_number,
                    "qty": line.quantity,
                    "unit_cost": str(line.unit_price),
                    "ship_to": dataclasses.asdict(line.ship_to) if line.ship_to else None,
                    "customer_ref": line.customer_ref,
                }
                for line in po.lines
            ],
        }
        supplier_order_id = state.next_supplier_order_id()
        state.orders[po.po_number] = OrderRecord(
            po_number=po.po_number,
            supplier_order_id=supplier_order_id,
            received_at=utcnow_iso(),
            request=request,
            answer=StoredAnswer(status_code=201, body={"supplier_order_id": supplier_order_id, "status": "received"}),
            lines=[LineState(line_no=ln.line_no, sku=ln.vendor_part_number, qty=ln.quantity) for ln in po.lines],
        )
        state.log_request(po.po_number, "processed", 200)
        faults = state.faults
        if faults.reject_next > 0:
            faults.reject_next -= 1
            return _Placed(po.po_number, "reject", faults.reject_reason)
        return _Placed(po.po_number, "new")

    def _reject(self, po_number: str, reason: str) -> None:
        """The reject fault in X12: the order is refused by an 855 rejecting every line."""
        order = self.state.orders[po_number]
        lines = [models.AckLine(line_no=ln.line_no, status="rejected", qty=ln.qty, reason=reason) for ln in order.lines]
        self.sim.acknowledge(po_number, models.AckIn(status="rejected", lines=lines))
        order.rejected = True
        self.state.save()


def _cancelled(line: LineCancellation) -> models.LineQty:
    return models.LineQty(line_no=line.line_no, qty=line.cancelled)


def _po_numbers(interchanges: list[Interchange]) -> list[str]:
    numbers = []
    for interchange in interchanges:
        for group in interchange.groups:
            for transaction in group.transactions:
                beg = transaction.find("BEG") if transaction.code == "850" else None
                if beg is not None and beg.element(3):
                    numbers.append(beg.element(3))
    return numbers


def enable_x12(app: FastAPI, sim: Simulator) -> X12Endpoint:
    """Switch a simulator to X12: interchange deliveries, ``POST /edi``, ``GET /admin/edi/interchanges``."""
    dispatcher = X12Dispatcher(sim.settings, sim.state)
    sim.callbacks = dispatcher
    endpoint = X12Endpoint(sim, dispatcher)
    router = APIRouter(tags=["EDI X12"])

    @router.post(
        "/edi",
        summary="Signed X12 interchanges of 850s; answered with our 997",
        response_class=Response,
        responses={200: {"content": {X12_MEDIA_TYPE: {}}}, 401: {}, 400: {}, 422: {}},
    )
    async def post_edi(request: Request) -> Response:
        return await endpoint.receive(await request.body(), request.headers)

    @router.get("/admin/edi/interchanges", summary="Interchanges received, with the 997 each got")
    async def received() -> dict[str, Any]:
        return {"interchanges": [r.model_dump() for r in sim.state.data.x12_received.values()]}

    app.include_router(router)
    app.state.x12 = endpoint
    return endpoint
