"""One function per event the orders service consumes (aggregator and supplier gateway), each in one transaction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

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
from orders.domain.model import Cause, Order, OrderError, Shipment
from orders.domain.promise import PromiseRules, ReleaseEstimate
from orders.service_layer.handlers import UnitOfWorkFactory, apply_consequences
from orders.service_layer.unit_of_work import OrdersUnitOfWork

CONSUMER = "orders"
LineChange = Callable[[Order, int, Cause], None]


def split_backorder_line_id(backorder_line_id: str) -> tuple[str, int]:
    order_id, _, line_no = backorder_line_id.rpartition("-")
    return order_id, int(line_no)


@asynccontextmanager
async def _first_delivery(uow_factory: UnitOfWorkFactory, envelope: Envelope) -> AsyncIterator[OrdersUnitOfWork | None]:
    """A unit of work for an event seen for the first time (None for a redelivery); commits if the body succeeds."""
    async with uow_factory() as uow:
        uow.correlation_id = envelope.correlation_id
        if not await uow.claim_event(CONSUMER, envelope):
            yield None
            return
        yield uow
        await uow.commit()


def _cause(envelope: Envelope) -> Cause:
    return Cause(utcnow(), envelope.type, str(envelope.event_id))


async def _change_lines(uow: OrdersUnitOfWork, changes: list[tuple[str | None, LineChange]], cause: Cause) -> None:
    """Apply each change to the line it names, all the lines of one order at once.

    The orders are locked up front in one global order (sorted ids), then each is loaded, changed and
    saved once: handlers of events naming the same orders in any order never deadlock, and an event
    with many lines of one order reads and writes it once. Lines of other systems are skipped."""
    by_order: dict[str, list[tuple[int, LineChange]]] = defaultdict(list)
    for backorder_line_id, change in changes:
        if backorder_line_id is None:
            continue
        try:
            order_id, line_no = split_backorder_line_id(backorder_line_id)
        except ValueError:
            continue
        by_order[order_id].append((line_no, change))
    for order_id in await uow.orders.lock(by_order):
        order = await uow.orders.get(order_id)
        if order is None:
            continue
        for line_no, change in by_order[order_id]:
            try:
                change(order, line_no, cause)
            except OrderError:
                continue  # no such line here: not ours to track
        await uow.orders.save(order)
        await apply_consequences(uow, order)


def _acknowledge(po_number: str, ack: AcknowledgedLine, rules: PromiseRules) -> LineChange:
    def change(order: Order, line_no: int, cause: Cause) -> None:
        order.acknowledge(
            line_no, po_number, ack.status, ack.expected_ship_date, ack.reason, rules, cause, ack.rejected_quantity
        )

    return change


def _ship(po_number: str, shipment: Shipment, rules: PromiseRules) -> LineChange:
    def change(order: Order, line_no: int, cause: Cause) -> None:
        order.learn_purchase_order(line_no, po_number)
        order.record_shipment(line_no, shipment, rules, cause)

    return change


async def on_purchase_order_requested(
    uow_factory: UnitOfWorkFactory, envelope: Envelope, rules: PromiseRules | None = None
) -> None:
    payload = envelope.payload_as(PurchaseOrderRequested)
    rules = rules or PromiseRules()
    async with _first_delivery(uow_factory, envelope) as uow:
        if uow is None:
            return
        cause = _cause(envelope)

        def put_on_po(order: Order, line_no: int, c: Cause) -> None:
            order.mark_on_purchase_order(line_no, payload.po_number, c, rules)

        await _change_lines(uow, [(po_line.backorder_line_id, put_on_po) for po_line in payload.lines], cause)
        for po_line in payload.lines:
            if po_line.backorder_line_id is None:  # case-pack surplus bound for the merchant's warehouse
                await uow.incoming.record(payload.po_number, po_line.sku, po_line.quantity, cause.at)


async def on_batch_escalated(uow_factory: UnitOfWorkFactory, envelope: Envelope) -> None:
    """The aggregator could not fill a supplier's minimum in time and escalated: the customers hear of it."""
    payload = envelope.payload_as(BatchEscalated)
    async with _first_delivery(uow_factory, envelope) as uow:
        if uow is None:
            return

        def escalate(order: Order, line_no: int, _c: Cause) -> None:
            order.batch_escalated(line_no, payload.oldest_received_at)

        await _change_lines(uow, [(line_id, escalate) for line_id in payload.backorder_line_ids], _cause(envelope))


async def on_batch_release_expected(
    uow_factory: UnitOfWorkFactory, envelope: Envelope, rules: PromiseRules | None = None
) -> None:
    payload = envelope.payload_as(BatchReleaseExpected)
    rules = rules or PromiseRules()
    async with _first_delivery(uow_factory, envelope) as uow:
        if uow is None:
            return
        cause = _cause(envelope)

        def expect(order: Order, line_no: int, c: Cause) -> None:
            order.expect_release(line_no, payload.expected_release_at, rules, c, payload.latest_release_at)

        await _change_lines(uow, [(line_id, expect) for line_id in payload.backorder_line_ids], cause)
        # Last, after the orders: the supplier's estimate row is hot (every event of the supplier writes
        # it), so it is held only for the commit, and always after the order locks (one lock order).
        await uow.release_estimates.record(payload.supplier_id, _estimate_of(payload), cause.at)


def _estimate_of(payload: BatchReleaseExpected) -> ReleaseEstimate:
    wait = payload.first_line_wait_seconds
    return ReleaseEstimate(payload.expected_release_at, None if wait is None else timedelta(seconds=wait))


async def on_purchase_order_acknowledged(
    uow_factory: UnitOfWorkFactory, envelope: Envelope, rules: PromiseRules | None = None
) -> None:
    payload = envelope.payload_as(PurchaseOrderAcknowledged)
    rules = rules or PromiseRules()
    async with _first_delivery(uow_factory, envelope) as uow:
        if uow is None:
            return
        changes = [(ack.backorder_line_id, _acknowledge(payload.po_number, ack, rules)) for ack in payload.lines]
        await _change_lines(uow, changes, _cause(envelope))


async def on_shipment_updated(
    uow_factory: UnitOfWorkFactory, envelope: Envelope, rules: PromiseRules | None = None
) -> None:
    payload = envelope.payload_as(ShipmentUpdated)
    rules = rules or PromiseRules()
    async with _first_delivery(uow_factory, envelope) as uow:
        if uow is None:
            return
        changes = [
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
                ),
            )
            for shipped in payload.lines
        ]
        await _change_lines(uow, changes, _cause(envelope))


async def on_line_cancellation_resolved(uow_factory: UnitOfWorkFactory, envelope: Envelope) -> None:
    payload = envelope.payload_as(LineCancellationResolved)
    async with _first_delivery(uow_factory, envelope) as uow:
        if uow is None:
            return

        def resolve(order: Order, line_no: int, c: Cause) -> None:
            order.resolve_cancellation(line_no, payload.outcome, c)

        await _change_lines(uow, [(payload.backorder_line_id, resolve)], _cause(envelope))


async def on_purchase_order_failed(uow_factory: UnitOfWorkFactory, envelope: Envelope) -> None:
    """The PO will not be placed (refused by the supplier, unknown supplier, given up): its lines are rejected."""
    payload = envelope.payload_as(PurchaseOrderFailed)
    await _close_lines_of_po(uow_factory, envelope, payload, Order.purchase_order_failed)


async def on_purchase_order_cancelled(uow_factory: UnitOfWorkFactory, envelope: Envelope) -> None:
    """Operations cancelled the PO before it went out: its lines will not come."""
    payload = envelope.payload_as(PurchaseOrderCancelled)
    await _close_lines_of_po(uow_factory, envelope, payload, Order.purchase_order_cancelled)


async def _close_lines_of_po(
    uow_factory: UnitOfWorkFactory,
    envelope: Envelope,
    payload: PurchaseOrderFailed | PurchaseOrderCancelled,
    close: Callable[[Order, int, str, str, Cause], None],
) -> None:
    """Each line of a PO that will never be placed is closed by `close` with the PO's reason."""
    async with _first_delivery(uow_factory, envelope) as uow:
        if uow is None:
            return

        def apply(order: Order, line_no: int, c: Cause) -> None:
            close(order, line_no, payload.po_number, payload.reason, c)

        await _change_lines(uow, [(line_id, apply) for line_id in payload.backorder_line_ids], _cause(envelope))


async def on_purchase_order_line_late(
    uow_factory: UnitOfWorkFactory, envelope: Envelope, rules: PromiseRules | None = None
) -> None:
    """The supplier missed the ship date it acknowledged: the line's promise moves."""
    payload = envelope.payload_as(PurchaseOrderLineLate)
    rules = rules or PromiseRules()
    async with _first_delivery(uow_factory, envelope) as uow:
        if uow is None:
            return

        def late(order: Order, line_no: int, c: Cause) -> None:
            order.supplier_late(line_no, payload.assumed_ship_date, rules, c)

        await _change_lines(uow, [(payload.backorder_line_id, late)], _cause(envelope))
