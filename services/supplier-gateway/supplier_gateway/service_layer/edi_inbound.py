"""Interchanges X12 suppliers send us: each applied once (sender + ISA13), in one transaction with the
events it causes and the 997/TA1 we answer with.

Two kinds of trouble, answered differently:
- syntax (envelope, counts, unreadable content): the set or group is rejected in our 997 (a broken envelope
  also gets a TA1) and changes nothing; the interchange is stored as rejected, so a corrected resend with the
  same ISA13 is read afresh;
- application (a well-formed set for a PO we do not know, a line we do not have, more shipped than ordered):
  the set is accepted in the 997, because a 997 only speaks of syntax, and is not applied; it is filed in the
  exceptions inbox in the transaction that stores the interchange, and the outcome lists it in ``unapplied``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from dropship_shared.events import utcnow
from dropship_shared.logs import get_logger
from dropship_shared.unit_of_work import UnitOfWorkFactory
from supplier_gateway.adapters import x12_inbound as x12
from supplier_gateway.adapters.supplier_answers import REASON_LIMIT
from supplier_gateway.adapters.x12_documents import sender_key
from supplier_gateway.adapters.x12_store import StoredInterchange
from supplier_gateway.domain.purchase_order import (
    NothingApplied,
    PurchaseOrder,
    PurchaseOrderError,
    PurchaseOrderState,
    UnknownLine,
)
from supplier_gateway.domain.supplier import Supplier
from supplier_gateway.domain.supplier_exception import Anomaly, ExceptionKind
from supplier_gateway.domain.supplier_messages import SupplierMessage
from supplier_gateway.service_layer.cancellations import record_cancellation_answer
from supplier_gateway.service_layer.edi_outbound import OurX12Identity
from supplier_gateway.service_layer.errors import GatewayError, PurchaseOrderNotFound, ReplayedEvent
from supplier_gateway.service_layer.supplier_exceptions import file_exception
from supplier_gateway.service_layer.supplier_messages import apply_in, unknown_purchase_order
from supplier_gateway.service_layer.supplier_port import CancellationAnswer
from supplier_gateway.service_layer.unit_of_work import GatewayUnitOfWork

log = get_logger(__name__)

EVENT_KIND = "x12"


class UnreadableInterchange(GatewayError):
    """Not X12 at all (no readable ISA): there is no envelope to answer with a 997."""


class ForeignInterchange(GatewayError):
    """The interchange is not from this supplier to us."""


@dataclass(frozen=True)
class UnappliedPart:
    """A well-formed set (accepted in our 997) we could not apply: an application error, filed in the
    exceptions inbox (one exception per anomaly) with the interchange that carried it."""

    transaction_set: str  # ST01 and ST02, e.g. "856 0001"
    po_number: str | None
    reason: str
    anomalies: tuple[Anomaly, ...]
    received: str  # the set as it came, for the exception


@dataclass(frozen=True)
class InterchangeOutcome:
    control_number: str
    status: str  # accepted | partial | rejected | duplicate
    reply: str | None  # our 997 and/or TA1 (None when only 997s came in)
    unapplied: tuple[UnappliedPart, ...] = ()


class _SyntaxRefusal(Exception):
    """A set whose content cannot be read: rejected in the 997."""


class _ApplicationRefusal(Exception):
    def __init__(self, po_number: str | None, reason: str, anomalies: list[Anomaly]) -> None:
        super().__init__(reason)
        self.po_number = po_number
        self.anomalies = anomalies


ReadSet = (
    x12.PurchaseOrderAcknowledgement
    | list[x12.ShipNotice]
    | x12.PurchaseOrderChangeAcknowledgement
    | x12.FunctionalAckReceived
    | None
)


@dataclass(frozen=True)
class _SoundSet:
    """A set the envelope checks accepted, read into its document (None: a set we only acknowledge)."""

    key: x12.SetKey
    transaction: x12.TransactionSet
    document: ReadSet


async def receive_interchanges(
    uow_factory: UnitOfWorkFactory[GatewayUnitOfWork], supplier: Supplier, raw: bytes, us: OurX12Identity, event_id: str
) -> list[InterchangeOutcome]:
    """Read (off the event loop), check the partners, apply each interchange; ``event_id`` (X-Event-Id) is
    refused if seen before, like the JSON callbacks, and recorded once every interchange is through."""
    async with uow_factory() as uow:
        if await uow.supplier_events.seen(supplier.supplier_id, event_id):
            raise ReplayedEvent(f"request {event_id!r} of supplier {supplier.supplier_id!r} was received before")
    try:
        received = await asyncio.to_thread(x12.read_and_validate, raw)
    except x12.X12Error as exc:
        raise UnreadableInterchange(str(exc)) from exc
    _check_partners(supplier, us, [interchange for interchange, _ in received])
    text = raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd")  # PostgreSQL text holds no NUL
    outcomes = [await _receive(uow_factory, supplier, interchange, report, text) for interchange, report in received]
    async with uow_factory() as uow:
        await uow.supplier_events.record(supplier.supplier_id, event_id, EVENT_KIND, None, utcnow())
        await uow.commit()
    return outcomes


def _check_partners(supplier: Supplier, us: OurX12Identity, interchanges: list[x12.Interchange]) -> None:
    partner = supplier.x12_partner
    if partner is None:
        raise ForeignInterchange(f"supplier {supplier.supplier_id!r} has no X12 trading partner ids")
    expected = ((partner.isa_qualifier, partner.isa_id), (us.partner.isa_qualifier, us.partner.isa_id))
    foreign = []
    for interchange in interchanges:
        found = (
            (interchange.sender_qualifier.strip(), interchange.sender_id.strip()),
            (interchange.receiver_qualifier.strip(), interchange.receiver_id.strip()),
        )
        if found != expected:
            foreign.append(f"{interchange.control_number!r} is from {':'.join(found[0])} to {':'.join(found[1])}")
    if foreign:
        raise ForeignInterchange(
            f"nothing applied: this endpoint takes interchanges from {':'.join(expected[0])} to "
            f"{':'.join(expected[1])} only (send each partner's interchanges to its own endpoint); "
            f"interchange {'; '.join(foreign)}"
        )


async def _receive(
    uow_factory: UnitOfWorkFactory[GatewayUnitOfWork],
    supplier: Supplier,
    interchange: x12.Interchange,
    report: x12.InterchangeReport,
    text: str,
) -> InterchangeOutcome:
    sender = sender_key(interchange.sender_qualifier, interchange.sender_id)
    control_number = interchange.control_number.strip().replace("\x00", "\ufffd")
    refused: dict[x12.SetKey, str] = {}
    unapplied: dict[x12.SetKey, UnappliedPart] = {}
    while True:  # each pass skips the sets refused so far, until one goes through without a refusal
        async with uow_factory() as uow:
            known = await uow.x12.inbound(sender, control_number)
            if known is not None and known.status != "rejected":
                return InterchangeOutcome(control_number, "duplicate", None if known.reply_delivery else known.reply)
            now = utcnow()
            refused_now, unapplied_now = await _apply_sets(
                uow, supplier, interchange, report, refused.keys() | unapplied.keys(), now
            )
            if refused_now or unapplied_now:
                refused.update(refused_now)
                unapplied.update(unapplied_now)
                continue  # leaving the unit of work rolls the pass back
            await _answered_by_ta1(uow, supplier, interchange, now)
            final = x12.reject_sets(report, refused)
            status = _status(final)
            answer = None
            if x12.needs_reply(interchange, final):
                answer = x12.reply(interchange, final, await uow.x12.next_control_number(supplier.supplier_id), now)
            if known is not None:
                await uow.x12.forget_rejected(sender, control_number)
            first_group = interchange.groups[0].control_number if interchange.groups else ""
            await uow.x12.add(
                StoredInterchange(
                    supplier_id=supplier.supplier_id,
                    direction="inbound",
                    sender_id=sender,
                    control_number=control_number,
                    kind=x12.kind_of(interchange),
                    po_number=None,
                    group_control_number=first_group if x12.is_control_number(first_group) else None,
                    status=status,
                    body=text,
                    reply=answer,
                    reply_delivery="pending" if answer and _acknowledged_apart(supplier) else None,
                ),
                now,
            )
            source = f"interchange {sender}/{control_number}"
            for part in unapplied.values():
                for anomaly in part.anomalies:
                    where = f"{source} set {part.transaction_set}"
                    await file_exception(uow, anomaly, supplier.supplier_id, part.po_number, where, now, part.received)
            await uow.commit()
            if refused:
                log.warning(
                    "X12 transaction sets refused", control_number=control_number, reasons=list(refused.values())
                )
            for part in unapplied.values():
                log.warning(
                    "X12 transaction set not applied",
                    control_number=control_number,
                    transaction_set=part.transaction_set,
                    po_number=part.po_number,
                    reason=part.reason,
                )
            in_answer = None if _acknowledged_apart(supplier) else answer
            return InterchangeOutcome(control_number, status, in_answer, tuple(unapplied.values()))


async def _apply_sets(
    uow: GatewayUnitOfWork,
    supplier: Supplier,
    interchange: x12.Interchange,
    report: x12.InterchangeReport,
    skipped: set[x12.SetKey],
    now: datetime,
) -> tuple[dict[x12.SetKey, str], dict[x12.SetKey, UnappliedPart]]:
    """Apply every sound set not skipped; returns the sets refused (syntax) and not applied in this pass.

    Every set is read first, then the POs they name are locked at once in sorted order, then the sets are
    applied: two interchanges naming the same POs in other orders (several groups, several 856s) never
    wait on each other in a cycle."""
    refused: dict[x12.SetKey, str] = {}
    unapplied: dict[x12.SetKey, UnappliedPart] = {}
    readable: list[_SoundSet] = []
    for key, transaction in _sound_sets(interchange, report, skipped):
        try:
            readable.append(_SoundSet(key, transaction, _read_set(transaction)))
        except x12.X12Error as exc:
            refused[key] = str(exc)
    await uow.purchase_orders.lock(await _purchase_orders_named(uow, supplier, readable))
    for sound in readable:
        try:
            await _apply_set(uow, supplier, sound, now)
        except _SyntaxRefusal as exc:
            refused[sound.key] = str(exc)
        except _ApplicationRefusal as exc:
            transaction = sound.transaction
            unapplied[sound.key] = UnappliedPart(
                f"{transaction.code} {transaction.control_number}",
                exc.po_number,
                str(exc),
                tuple(exc.anomalies),
                x12.text_of(transaction),
            )
    return refused, unapplied


def _sound_sets(
    interchange: x12.Interchange, report: x12.InterchangeReport, skipped: set[x12.SetKey]
) -> Iterator[tuple[x12.SetKey, x12.TransactionSet]]:
    """The sets the envelope checks accepted, in document order (a broken group is rejected whole)."""
    for group_index, (group, group_report) in enumerate(zip(interchange.groups, report.groups, strict=True)):
        if group_report.errors:
            continue
        for set_index, (transaction, set_report) in enumerate(zip(group.transactions, group_report.sets, strict=True)):
            key = (group_index, set_index)
            if set_report.accepted and key not in skipped:
                yield key, transaction


def _read_set(transaction: x12.TransactionSet) -> ReadSet:
    if transaction.code == "855":
        return x12.parse_855(transaction)
    if transaction.code == "856":
        return x12.ship_notices_of(transaction)
    if transaction.code == "865":
        return x12.parse_865(transaction)
    if transaction.code == "997":
        return x12.functional_acks_of(transaction)
    return None


async def _purchase_orders_named(uow: GatewayUnitOfWork, supplier: Supplier, readable: list[_SoundSet]) -> list[str]:
    """The PO numbers the sets (and the TA1s) of an interchange speak of, including our POs their 997s answer."""
    named: set[str] = set()
    answered: list[str] = []
    for sound in readable:
        document = sound.document
        if isinstance(document, list):
            named.update(notice.po_number for notice in document)
        elif isinstance(document, x12.FunctionalAckReceived):
            answered.append(document.group_control_number)
        elif document is not None:
            named.add(document.po_number)
    for control_number in answered:
        ours = await uow.x12.outbound_by_group(supplier.supplier_id, control_number)
        if ours is not None and ours.po_number is not None:
            named.add(ours.po_number)
    return sorted(named)


def _acknowledged_apart(supplier: Supplier) -> bool:
    """The partner takes our 997s/TA1s at an endpoint of its own (sent by the acknowledgement sender)."""
    return supplier.x12_partner is not None and supplier.x12_partner.acknowledgement_url is not None


def _status(report: x12.InterchangeReport) -> str:
    if report.accepted:
        return "accepted"
    if report.envelope_ok and any(group.accepted_count for group in report.groups if not group.errors):
        return "partial"
    return "rejected"


async def _apply_set(uow: GatewayUnitOfWork, supplier: Supplier, sound: _SoundSet, now: datetime) -> None:
    """Apply one read transaction set; raises when any part of it is refused (the caller drops the whole set)."""
    po_number: str | None = None
    document = sound.document
    try:
        messages: list[SupplierMessage] = []
        if isinstance(document, x12.PurchaseOrderAcknowledgement):
            po_number = document.po_number
            messages.append(x12.acknowledgement_of(document, await _purchase_order(uow, supplier, po_number)))
        elif isinstance(document, list):
            for notice in document:
                po_number = notice.po_number
                messages.append(x12.shipment_notice(notice, await _purchase_order(uow, supplier, po_number)))
        elif isinstance(document, x12.PurchaseOrderChangeAcknowledgement):
            po_number = document.po_number
            po = await _purchase_order(uow, supplier, po_number, for_update=True)
            await _cancellations_answered(uow, po, document, now)
        elif isinstance(document, x12.FunctionalAckReceived):
            answer = f"997 (codes {', '.join(document.error_codes) or '-'})"
            await _outbound_answered(uow, supplier, document.group_control_number, _ack_status(document), answer, now)
        for message in messages:
            po_number = message.po_number
            await apply_in(uow, supplier.supplier_id, message, now)
    except x12.X12Error as exc:
        raise _SyntaxRefusal(str(exc)) from exc
    except PurchaseOrderNotFound as exc:
        raise _ApplicationRefusal(po_number, str(exc), [unknown_purchase_order(exc)]) from exc
    except NothingApplied as exc:
        raise _ApplicationRefusal(po_number, str(exc), exc.anomalies) from exc
    except UnknownLine as exc:
        anomaly = Anomaly(ExceptionKind.UNKNOWN_LINE, f"{exc}; the set is not applied")
        raise _ApplicationRefusal(po_number, str(exc), [anomaly]) from exc
    except PurchaseOrderError as exc:
        anomaly = Anomaly(ExceptionKind.MESSAGE_NOT_APPLIED, f"{exc}; the set is not applied")
        raise _ApplicationRefusal(po_number, str(exc), [anomaly]) from exc


async def _purchase_order(
    uow: GatewayUnitOfWork, supplier: Supplier, po_number: str, for_update: bool = False
) -> PurchaseOrder:
    po = await uow.purchase_orders.get(po_number, for_update=for_update)
    if po is None or po.supplier_id != supplier.supplier_id:
        raise PurchaseOrderNotFound(f"supplier {supplier.supplier_id!r} has no purchase order {po_number!r}")
    return po


async def _cancellations_answered(
    uow: GatewayUnitOfWork, po: PurchaseOrder, change: x12.PurchaseOrderChangeAcknowledgement, now: datetime
) -> None:
    """The supplier's 865 answers our 860s: each waiting cancel request of an answered line is resolved as an
    HTTP answer would resolve it, a refusal with the supplier's own words; a line the 865 neither confirms
    nor refuses stays waiting."""
    for line in change.lines:
        answer = _cancellation_answer(change, line)
        requests = await uow.cancellations.pending_for_line(po.po_number, line.line_no)
        if answer is None or not requests:
            log.warning(
                "865 line left as it was",
                po_number=po.po_number,
                line_no=line.line_no,
                ack_code=line.ack_code,
                waiting_requests=len(requests),
            )
            continue
        for request in requests:
            await record_cancellation_answer(uow, po, request, answer, now)


def _cancellation_answer(
    change: x12.PurchaseOrderChangeAcknowledgement, line: x12.LineChangeAnswer
) -> CancellationAnswer | None:
    """An 865 line's answer to our cancel request; None when it is no answer (the request keeps waiting)."""
    if line.answer == "accepted":
        return CancellationAnswer(accepted=True)
    if line.answer == "refused":
        code = line.ack_code or change.ack_type
        words = change.words_for(line.line_no)
        reason = words[:REASON_LIMIT] if words else f"the supplier's 865 refused the change (code {code})"
        return CancellationAnswer(accepted=False, reason=reason)
    return None


def _ack_status(ack: x12.FunctionalAckReceived) -> str:
    return "accepted" if ack.accepted else "partial" if ack.partially_accepted else "rejected"


async def _answered_by_ta1(
    uow: GatewayUnitOfWork, supplier: Supplier, interchange: x12.Interchange, now: datetime
) -> None:
    """The partner's TA1s about our interchanges (an 850 is ISA13 = GS06, so they are found like a 997's)."""
    try:
        acks = x12.interchange_acks_of(interchange)
    except x12.X12Error as exc:
        log.warning("unreadable TA1 ignored", control_number=interchange.control_number, reason=str(exc))
        return
    for ack in acks:
        status = "accepted" if ack.accepted else "rejected"
        await _outbound_answered(uow, supplier, ack.control_number, status, f"TA1 (note code {ack.note_code})", now)


async def _outbound_answered(
    uow: GatewayUnitOfWork,
    supplier: Supplier,
    control_number: str,
    status: str,
    answer: str,
    now: datetime,
) -> None:
    """A partner's 997 or TA1 answered one of our interchanges: mark it; a refused 850 fails its PO (a refused
    860 leaves the cancel request waiting: operations hear of it when no 865 comes)."""
    ours = await uow.x12.acknowledge_outbound(supplier.supplier_id, control_number, status)
    po_number = ours.po_number if ours else None
    log.info("X12 acknowledgement received", control_number=control_number, status=status, po_number=po_number)
    if status != "rejected" or ours is None or ours.kind != "850" or po_number is None:
        return
    po = await uow.purchase_orders.get(po_number, for_update=True)
    if po is not None and po.state is PurchaseOrderState.SENT:
        async with uow.changing(po):
            po.fail(f"the supplier's {answer} rejected our 850", now)
