"""The events the orders service consumes (aggregator and supplier gateway): one planner per event, and the
handler that applies the events delivered together in one transaction."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dropship_shared.events import (
    AcknowledgedLine,
    BatchEscalated,
    BatchReleaseExpected,
    Envelope,
    LineCancellationResolved,
    PurchaseOrderAcknowledged,
    PurchaseOrderCancelled,
    PurchaseOrderFailed,
    PurchaseOrderLineLate,
    PurchaseOrderRequested,
    ShipmentUpdated,
    utcnow,
)
from dropship_shared.unit_of_work import UnitOfWorkFactory
from orders.domain.model import Cause, Order, OrderError, Shipment, split_backorder_line_id
from orders.domain.promise import PromiseRules
from orders.domain.routing import BatchOutlook
from orders.domain.sourcing import Sourcing, told_outlook
from orders.service_layer.handlers import apply_consequences, load_sourcing
from orders.service_layer.unit_of_work import OrdersUnitOfWork

CONSUMER = "orders"
LineChange = Callable[[Order, int, Cause], None]


@dataclass
class EventWork:
    """What one event asks: a change to each line it names, and the rows derived from it (written after the
    orders: a supplier's release estimate, case-pack surplus bound for the merchant's warehouse)."""

    cause: Cause
    changes: list[tuple[str | None, LineChange]]
    release_estimate: BatchOutlook | None = None
    incoming: list[tuple[str, str, int, int]] = field(default_factory=list)  # PO number, SKU, quantity, PO line
    # Surplus the supplier shipped to the warehouse: PO number, PO line, when it shipped.
    surplus_shipped: list[tuple[str, int, datetime]] = field(default_factory=list)
    # The event may move lines to another offer: routing's inputs are loaded for them before the changes run.
    rerouting: SourcingSlot | None = None
    # Applies to a line under any of its backorder line ids (goods that shipped count even from a supplier the
    # line left); other events about an id the line has left (a re-routed line) change nothing.
    any_route: bool = False
    # The change reads the lines' status history (a refused cancellation resumes the status before the request):
    # the batch's orders are loaded with it.
    reads_history: bool = False


@dataclass
class SourcingSlot:
    """Filled with routing's inputs once the event's orders are loaded, read by its changes."""

    sourcing: Sourcing | None = None


Planner = Callable[[Envelope, PromiseRules], EventWork]


def _cause(envelope: Envelope) -> Cause:
    return Cause(utcnow(), envelope.type, str(envelope.event_id))


def _by_order(work: EventWork) -> dict[str, list[tuple[int, int, LineChange]]]:
    """The event's changes per order (line, route number, change); lines of other systems are skipped."""
    by_order: dict[str, list[tuple[int, int, LineChange]]] = defaultdict(list)
    for backorder_line_id, change in work.changes:
        if backorder_line_id is None:
            continue
        try:
            order_id, line_no, route_no = split_backorder_line_id(backorder_line_id)
        except ValueError:
            continue
        by_order[order_id].append((line_no, route_no, change))
    return by_order


def _route_of(backorder_line_id: str | None) -> int | None:
    try:
        return split_backorder_line_id(backorder_line_id)[2] if backorder_line_id else None
    except ValueError:
        return None


async def _fill_sourcing(
    uow: OrdersUnitOfWork,
    todo: list[tuple[Envelope, EventWork, dict[str, list[tuple[int, int, LineChange]]]]],
    orders: dict[str, Order],
) -> None:
    """Routing's inputs for the lines of the events that may re-route them (one load for the whole batch)."""
    slots = [work.rerouting for _, work, _ in todo if work.rerouting is not None]
    if not slots:
        return
    skus = {
        line.sku
        for _, work, by_order in todo
        if work.rerouting is not None
        for order_id, changes in by_order.items()
        if order_id in orders
        for line in orders[order_id].lines
        if line.line_no in {line_no for line_no, _, _ in changes}
    }
    sourcing = await load_sourcing(uow, skus)
    for slot in slots:
        slot.sourcing = sourcing


async def handle_events(
    uow_factory: UnitOfWorkFactory[OrdersUnitOfWork], envelopes: list[Envelope], rules: PromiseRules
) -> None:
    """Events delivered together, in one transaction, with the effect of one at a time in delivery order.

    The events are claimed in one statement (a redelivered one changes nothing); the orders all of them
    name are locked in one statement in one global order (sorted ids, before any other row is written),
    so concurrent handlers wait on each other but never deadlock; each order is read once and written
    once, whatever number of events changed it; the derived rows are written last, in sorted order."""
    planned = [(envelope, _PLANNERS[envelope.type](envelope, rules)) for envelope in envelopes]
    async with uow_factory() as uow:
        work_of = {id(envelope): work for envelope, work in planned}
        todo = [
            (envelope, work_of[id(envelope)], _by_order(work_of[id(envelope)]))
            for envelope in await uow.fresh_events(CONSUMER, envelopes)
        ]
        if not todo:
            return
        orders = await uow.orders.get_many(
            (order_id for _, _, by_order in todo for order_id in by_order),
            for_update=True,  # locked as they are read, in sorted order, before any other row is written
            with_history=any(work.reads_history for _, work, _ in todo),
        )
        await _fill_sourcing(uow, todo, orders)
        changed: dict[str, Order] = {}
        estimates: dict[str, tuple[BatchOutlook, datetime]] = {}
        incoming: dict[tuple[str, str], tuple[int, int, datetime]] = {}
        surplus_shipped: dict[tuple[str, int], datetime] = {}
        for envelope, work, by_order in todo:
            uow.correlation_id = envelope.correlation_id  # the orders' events raised from here on carry it
            for order_id, line_changes in by_order.items():
                order = orders.get(order_id)
                if order is None:
                    continue
                for line_no, route_no, change in line_changes:
                    try:
                        if route_no != order.line(line_no).route_no and not work.any_route:
                            continue  # about a PO the line has left (re-routed): its record there stands
                        change(order, line_no, work.cause)
                    except OrderError:
                        continue  # no such line here: not ours to track
                changed[order_id] = order
            if work.release_estimate is not None:
                estimates[work.release_estimate.supplier_id] = (work.release_estimate, work.cause.at)  # latest wins
            for po_number, sku, quantity, line_no in work.incoming:
                incoming.setdefault((po_number, sku), (quantity, line_no, work.cause.at))
            for po_number, line_no, shipped_at in work.surplus_shipped:
                surplus_shipped.setdefault((po_number, line_no), shipped_at)
            # The loop's turn between events: a batch over a big order is a long stretch of CPU, and the
            # reads answered on this loop would wait for all of it (nothing else touches these orders).
            await asyncio.sleep(0)
        await uow.orders.save(*changed.values())
        await apply_consequences(uow, *changed.values())
        # Last, after the orders: a supplier's estimate row is hot (every event of the supplier writes it),
        # so it is held only for the commit, and always after the order locks (one lock order).
        await uow.release_estimates.record([estimate for _, estimate in sorted(estimates.items())])
        lead_times = await uow.products.lead_times(sku for _, sku in incoming)
        for (po_number, sku), (quantity, line_no, at) in sorted(incoming.items()):
            # Due in the warehouse once the supplier's lead time and the receiving delay have passed.
            due = at + timedelta(days=lead_times.get(sku, 0)) + rules.receiving_delay
            await uow.incoming.record(po_number, sku, quantity, at, line_no, due)
        for (po_number, line_no), shipped_at in sorted(surplus_shipped.items()):
            await uow.incoming.shipped(po_number, line_no, shipped_at, shipped_at + rules.receiving_delay)
        await uow.commit()


async def handle_event(
    uow_factory: UnitOfWorkFactory[OrdersUnitOfWork], envelope: Envelope, rules: PromiseRules | None = None
) -> None:
    """One event in its own transaction (the consumer hands over the deliveries waiting together)."""
    await handle_events(uow_factory, [envelope], rules or PromiseRules())


def _acknowledge(po_number: str, ack: AcknowledgedLine, rules: PromiseRules, slot: SourcingSlot) -> LineChange:
    def change(order: Order, line_no: int, cause: Cause) -> None:
        order.acknowledge(
            line_no,
            po_number,
            ack.status,
            ack.expected_ship_date,
            ack.reason,
            rules,
            cause,
            ack.rejected_quantity,
            slot.sourcing,
        )

    return change


def _ship(po_number: str, shipment: Shipment, rules: PromiseRules, backorder_line_id: str | None) -> LineChange:
    route_no = _route_of(backorder_line_id)

    def change(order: Order, line_no: int, cause: Cause) -> None:
        if route_no != order.line(line_no).route_no:  # from a supplier the line was re-routed away from
            order.record_shipment_from_left_route(line_no, shipment, rules, cause)
            return
        order.learn_purchase_order(line_no, po_number)
        order.record_shipment(line_no, shipment, rules, cause)

    return change


def _purchase_order_requested(envelope: Envelope, rules: PromiseRules) -> EventWork:
    payload = envelope.payload_as(PurchaseOrderRequested)

    def put_on_po(order: Order, line_no: int, c: Cause) -> None:
        order.mark_on_purchase_order(line_no, payload.po_number, c, rules)

    return EventWork(
        _cause(envelope),
        [(po_line.backorder_line_id, put_on_po) for po_line in payload.lines],
        # case-pack surplus bound for the merchant's warehouse: a PO line serving no customer's line
        incoming=[
            (payload.po_number, po_line.sku, po_line.quantity, po_line.line_no)
            for po_line in payload.lines
            if po_line.backorder_line_id is None
        ],
    )


def _batch_escalated(envelope: Envelope, rules: PromiseRules) -> EventWork:
    """The aggregator could not fill a supplier's minimum in time and escalated: the customers hear of it."""
    payload = envelope.payload_as(BatchEscalated)

    def escalate(order: Order, line_no: int, _c: Cause) -> None:
        order.batch_escalated(line_no, payload.oldest_received_at)

    return EventWork(_cause(envelope), [(line_id, escalate) for line_id in payload.backorder_line_ids])


def _batch_release_expected(envelope: Envelope, rules: PromiseRules) -> EventWork:
    payload = envelope.payload_as(BatchReleaseExpected)

    def expect(order: Order, line_no: int, c: Cause) -> None:
        order.expect_release(line_no, payload.expected_release_at, rules, c, payload.latest_release_at)

    return EventWork(
        _cause(envelope),
        [(line_id, expect) for line_id in payload.backorder_line_ids],
        release_estimate=told_outlook(payload.model_dump()),
    )


def _purchase_order_acknowledged(envelope: Envelope, rules: PromiseRules) -> EventWork:
    payload = envelope.payload_as(PurchaseOrderAcknowledged)
    slot = SourcingSlot()
    return EventWork(
        _cause(envelope),
        [(ack.backorder_line_id, _acknowledge(payload.po_number, ack, rules, slot)) for ack in payload.lines],
        rerouting=slot if any(ack.status in ("rejected", "backordered") for ack in payload.lines) else None,
    )


def _shipment_updated(envelope: Envelope, rules: PromiseRules) -> EventWork:
    payload = envelope.payload_as(ShipmentUpdated)
    return EventWork(
        _cause(envelope),
        [
            (
                shipped.backorder_line_id,
                _ship(
                    payload.po_number,
                    Shipment(
                        shipment_id=payload.shipment_id,
                        quantity=shipped.quantity,
                        carrier=payload.carrier_name,
                        tracking_number=payload.tracking_number,
                        tracking_url=payload.tracking_url,
                        shipped_at=payload.shipped_at,
                    ),
                    rules,
                    shipped.backorder_line_id,
                ),
            )
            for shipped in payload.lines
        ],
        any_route=True,
        # surplus shipped to the merchant's warehouse: received after the receiving delay
        surplus_shipped=[
            (payload.po_number, shipped.line_no, payload.shipped_at)
            for shipped in payload.lines
            if shipped.backorder_line_id is None
        ],
    )


def _line_cancellation_resolved(envelope: Envelope, rules: PromiseRules) -> EventWork:
    payload = envelope.payload_as(LineCancellationResolved)

    def resolve(order: Order, line_no: int, c: Cause) -> None:
        order.resolve_cancellation(line_no, payload.outcome, c, payload.reason)

    return EventWork(_cause(envelope), [(payload.backorder_line_id, resolve)], reads_history=True)


def _purchase_order_failed(envelope: Envelope, rules: PromiseRules) -> EventWork:
    """The PO will not be placed (refused by the supplier, unknown supplier, given up): its lines move to their
    next offer, or are rejected when none is left."""
    payload = envelope.payload_as(PurchaseOrderFailed)
    slot = SourcingSlot()

    def move_on(order: Order, line_no: int, c: Cause) -> None:
        order.purchase_order_failed(line_no, payload.po_number, payload.reason, c, slot.sourcing, rules)

    return EventWork(_cause(envelope), [(line_id, move_on) for line_id in payload.backorder_line_ids], rerouting=slot)


def _purchase_order_cancelled(envelope: Envelope, rules: PromiseRules) -> EventWork:
    """Operations cancelled the PO before it went out: its lines will not come."""
    return _close_lines_of_po(envelope, envelope.payload_as(PurchaseOrderCancelled), Order.purchase_order_cancelled)


def _close_lines_of_po(
    envelope: Envelope,
    payload: PurchaseOrderFailed | PurchaseOrderCancelled,
    close: Callable[[Order, int, str, str, Cause], None],
) -> EventWork:
    """Each line of a PO that will never be placed is closed by `close` with the PO's reason."""

    def apply(order: Order, line_no: int, c: Cause) -> None:
        close(order, line_no, payload.po_number, payload.reason, c)

    return EventWork(_cause(envelope), [(line_id, apply) for line_id in payload.backorder_line_ids])


def _purchase_order_line_late(envelope: Envelope, rules: PromiseRules) -> EventWork:
    """The supplier missed the ship date it acknowledged: the line's promise moves."""
    payload = envelope.payload_as(PurchaseOrderLineLate)

    def late(order: Order, line_no: int, c: Cause) -> None:
        order.supplier_late(line_no, payload.assumed_ship_date, rules, c)

    return EventWork(_cause(envelope), [(payload.backorder_line_id, late)])


_PLANNERS: dict[str, Planner] = {
    "purchase_order.requested": _purchase_order_requested,
    "batch.escalated": _batch_escalated,
    "batch.release_expected": _batch_release_expected,
    "purchase_order.acknowledged": _purchase_order_acknowledged,
    "shipment.updated": _shipment_updated,
    "purchase_order.line_cancellation_resolved": _line_cancellation_resolved,
    "purchase_order.failed": _purchase_order_failed,
    "purchase_order.cancelled": _purchase_order_cancelled,
    "purchase_order.line_late": _purchase_order_line_late,
}
CONSUMED = tuple(_PLANNERS)
