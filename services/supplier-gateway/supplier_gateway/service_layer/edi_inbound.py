"""Interchanges X12 suppliers send us: each applied once (sender + ISA13), in one transaction with the
events it causes and the 997 we answer with; a malformed or refused set is rejected and changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dropship_shared.events import utcnow
from dropship_shared.logs import get_logger
from supplier_gateway.adapters import x12_inbound as x12
from supplier_gateway.adapters.x12_documents import sender_key
from supplier_gateway.adapters.x12_store import StoredInterchange
from supplier_gateway.domain.purchase_order import PurchaseOrderError, PurchaseOrderState
from supplier_gateway.domain.supplier import Supplier
from supplier_gateway.domain.supplier_messages import SupplierMessage
from supplier_gateway.service_layer.edi_outbound import OurX12Identity
from supplier_gateway.service_layer.errors import GatewayError, PurchaseOrderNotFound
from supplier_gateway.service_layer.handlers import UnitOfWorkFactory
from supplier_gateway.service_layer.supplier_messages import apply_in
from supplier_gateway.service_layer.unit_of_work import GatewayUnitOfWork

log = get_logger(__name__)


class UnreadableInterchange(GatewayError):
    """Not X12 at all (no readable ISA): there is no envelope to answer with a 997."""


class ForeignInterchange(GatewayError):
    """The interchange is not from this supplier to us."""


@dataclass(frozen=True)
class InterchangeOutcome:
    control_number: str
    status: str  # accepted | partially_accepted | rejected | duplicate
    reply: str | None  # our 997 (None when only 997s came in)


async def receive_interchanges(
    uow_factory: UnitOfWorkFactory, supplier: Supplier, raw: bytes, us: OurX12Identity
) -> list[InterchangeOutcome]:
    try:
        interchanges = x12.read_interchanges(raw)
    except x12.X12Error as exc:
        raise UnreadableInterchange(str(exc)) from exc
    partner = supplier.x12_partner
    if partner is None:
        raise ForeignInterchange(f"supplier {supplier.supplier_id!r} has no X12 trading partner ids")
    for interchange in interchanges:
        sender = (interchange.sender_qualifier.strip(), interchange.sender_id.strip())
        receiver = (interchange.receiver_qualifier.strip(), interchange.receiver_id.strip())
        if sender != (partner.isa_qualifier, partner.isa_id) or receiver != (
            us.partner.isa_qualifier,
            us.partner.isa_id,
        ):
            raise ForeignInterchange(
                f"interchange {interchange.control_number} is from {':'.join(sender)} to {':'.join(receiver)}, "
                f"expected {partner.isa_qualifier}:{partner.isa_id} to {us.partner.isa_qualifier}:{us.partner.isa_id}"
            )
    text = raw.decode("utf-8", errors="replace")
    return [await _receive(uow_factory, supplier, interchange, text) for interchange in interchanges]


async def _receive(
    uow_factory: UnitOfWorkFactory, supplier: Supplier, interchange: x12.Interchange, text: str
) -> InterchangeOutcome:
    sender = sender_key(interchange.sender_qualifier, interchange.sender_id)
    control_number = interchange.control_number.strip()
    refused: dict[x12.SetKey, str] = {}
    while True:  # each pass drops the sets refused so far, until one goes through without a refusal
        async with uow_factory() as uow:
            known = await uow.x12.inbound(sender, control_number)
            if known is not None and known.status != "rejected":
                return InterchangeOutcome(control_number, "duplicate", known.reply)
            now = utcnow()
            report = x12.validate(interchange)
            refused_now = await _apply_sets(uow, supplier, interchange, report, refused, now)
            if refused_now:
                refused.update(refused_now)
                continue  # leaving the unit of work rolls the pass back
            report = x12.reject_sets(report, refused)
            status = _status(report)
            reply = None
            if any(group.functional_id != "FA" for group in report.groups):
                reply = x12.reply_997(interchange, report, await uow.x12.next_control_number(supplier.supplier_id), now)
            codes = {t.code for g in interchange.groups for t in g.transactions}
            if known is not None:
                await uow.x12.forget_rejected(sender, control_number)
            await uow.x12.add(
                StoredInterchange(
                    supplier_id=supplier.supplier_id,
                    direction="inbound",
                    sender_id=sender,
                    control_number=control_number,
                    kind=codes.pop() if len(codes) == 1 else "mixed",
                    po_number=None,
                    group_control_number=interchange.groups[0].control_number if interchange.groups else None,
                    status=status,
                    body=text,
                    reply=reply,
                ),
                now,
            )
            await uow.commit()
            if refused:
                log.warning(
                    "X12 transaction sets refused", control_number=control_number, reasons=list(refused.values())
                )
            return InterchangeOutcome(control_number, status, reply)


async def _apply_sets(
    uow: GatewayUnitOfWork,
    supplier: Supplier,
    interchange: x12.Interchange,
    report: x12.InterchangeReport,
    refused: dict[x12.SetKey, str],
    now: datetime,
) -> dict[x12.SetKey, str]:
    """Apply every sound set not refused before; returns the sets refused in this pass."""
    refused_now: dict[x12.SetKey, str] = {}
    for group_index, (group, group_report) in enumerate(zip(interchange.groups, report.groups, strict=True)):
        if group_report.errors:
            continue  # a broken group (or envelope) is rejected whole
        for set_index, (transaction, set_report) in enumerate(zip(group.transactions, group_report.sets, strict=True)):
            key = (group_index, set_index)
            if not set_report.accepted or key in refused:
                continue
            try:
                await _apply_set(uow, supplier, transaction, now)
            except (x12.X12Error, PurchaseOrderError, PurchaseOrderNotFound) as exc:
                refused_now[key] = str(exc)
    return refused_now


def _status(report: x12.InterchangeReport) -> str:
    if all(group.accepted for group in report.groups):
        return "accepted"
    if any(group.accepted_count for group in report.groups if not group.errors):
        return "partially_accepted"
    return "rejected"


async def _apply_set(
    uow: GatewayUnitOfWork, supplier: Supplier, transaction: x12.TransactionSet, now: datetime
) -> None:
    """Apply one transaction set; raises when any part of it is refused (the caller drops the whole set)."""
    messages: list[SupplierMessage] = []
    if transaction.code == "855":
        messages.append(x12.acknowledgement_of(transaction))
    elif transaction.code == "856":
        for notice in x12.ship_notices_of(transaction):
            po = await uow.purchase_orders.get(notice.po_number)
            if po is None or po.supplier_id != supplier.supplier_id:
                raise PurchaseOrderNotFound(f"856 names unknown purchase order {notice.po_number!r}")
            messages.append(x12.shipment_notice(notice, po))
    elif transaction.code == "997":
        ack = x12.functional_acks_of(transaction)
        status = "accepted" if ack.accepted else "partially_accepted" if ack.partially_accepted else "rejected"
        po_number = await uow.x12.acknowledge_outbound(supplier.supplier_id, ack.group_control_number, status)
        log.info("997 received", group=ack.group_control_number, status=status, po_number=po_number)
        if status == "rejected" and po_number is not None:
            po = await uow.purchase_orders.get(po_number, for_update=True)
            if po is not None and po.state is PurchaseOrderState.SENT:
                uow.correlation_id = po.correlation_id
                po.fail(f"the supplier's 997 rejected our 850 (codes {', '.join(ack.error_codes) or '-'})", now)
                await uow.purchase_orders.save(po)
                for event in po.events:
                    uow.emit(event)
    for message in messages:
        await apply_in(uow, supplier.supplier_id, message, now)
