"""One function per event the orders service consumes (aggregator and supplier gateway), each in one transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from dropship_shared.events import (
    AcknowledgedLine,
    BatchEscalated,
    BatchReleaseExpected,
    Envelope,
    LineCancellationResolved,
    PurchaseOrderAcknowledged,
    PurchaseOrderFailed,
    PurchaseOrderRequested,
    ShipmentUpdated,
    utcnow,
)
from orders.domain.model import Cause, Order, OrderError, Shipment
from orders.domain.promise import PromiseRules
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


async def _change_line(uow: OrdersUnitOfWork, backorder_line_id: str | None, cause: Cause, change: LineChange) -> None:
    """Apply a change to the line an event names; lines of other systems (surplus, unknown) are skipped."""
    if backorder_line_id is None:
        return
    try:
        order_id, line_no = split_backorder_line_id(backorder_line_id)
    except ValueError:
        return
    order = await uow.orders.get(order_id, for_update=True)
    if order is None:
        return
    try:
        change(order, line_no, cause)
    except OrderError:
        return  # no such line here: not ours to track
    await uow.orders.save(order)
    await apply_consequences(uow, order)


def _acknowledge(po_number: str, ack: AcknowledgedLine, rules: PromiseRules) -> LineChange:
    def change(order: Order, line_no: int, cause: Cause) -> None:
        order.acknowledge(
            line_no, po_number, ack.status, ack.expected_ship_date, ack.reason, rules, cause, ack.rejected_quantity
        )

    return change


def _ship(shipment: Shipment, rules: PromiseRules) -> LineChange:
    def change(order: Order, line_no: int, cause: Cause) -> None:
        order.record_shipment(line_no, shipment, rules, cause)

    return change


async def on_purchase_order_requested(uow_factory: UnitOfWorkFactory, envelope: Envelope) -> None:
    payload = envelope.payload_as(PurchaseOrderRequested)
    async with _first_delivery(uow_factory, envelope) as uow:
        if uow is None:
            return
        cause = _cause(envelope)
        for po_line in payload.lines:
            if po_line.backorder_line_id is None:  # case-pack surplus bound for the merchant's warehouse
                await uow.incoming.record(payload.po_number, po_line.sku, po_line.quantity, cause.at)
                continue
            await _change_line(
                uow,
                po_line.backorder_line_id,
                cause,
                lambda order, line_no, c: order.mark_on_purchase_order(line_no, payload.po_number, c),
            )


async def on_batch_escalated(uow_factory: UnitOfWorkFactory, envelope: Envelope) -> None:
    """The aggregator could not fill a supplier's minimum in time and escalated: the customers hear of it."""
    payload = envelope.payload_as(BatchEscalated)
    async with _first_delivery(uow_factory, envelope) as uow:
        if uow is None:
            return
        cause = _cause(envelope)
        for line_id in payload.backorder_line_ids:
            await _change_line(
                uow,
                line_id,
                cause,
                lambda order, line_no, _c: order.batch_escalated(line_no, payload.oldest_received_at),
            )


async def on_batch_release_expected(
    uow_factory: UnitOfWorkFactory, envelope: Envelope, rules: PromiseRules | None = None
) -> None:
    payload = envelope.payload_as(BatchReleaseExpected)
    rules = rules or PromiseRules()
    async with _first_delivery(uow_factory, envelope) as uow:
        if uow is None:
            return
        cause = _cause(envelope)
        await uow.release_estimates.record(payload.supplier_id, payload.expected_release_at, cause.at)
        for line_id in payload.backorder_line_ids:
            await _change_line(
                uow,
                line_id,
                cause,
                lambda order, line_no, c: order.expect_release(line_no, payload.expected_release_at, rules, c),
            )


async def on_purchase_order_acknowledged(
    uow_factory: UnitOfWorkFactory, envelope: Envelope, rules: PromiseRules | None = None
) -> None:
    payload = envelope.payload_as(PurchaseOrderAcknowledged)
    rules = rules or PromiseRules()
    async with _first_delivery(uow_factory, envelope) as uow:
        if uow is None:
            return
        cause = _cause(envelope)
        for ack in payload.lines:
            await _change_line(uow, ack.backorder_line_id, cause, _acknowledge(payload.po_number, ack, rules))


async def on_shipment_updated(
    uow_factory: UnitOfWorkFactory, envelope: Envelope, rules: PromiseRules | None = None
) -> None:
    payload = envelope.payload_as(ShipmentUpdated)
    rules = rules or PromiseRules()
    async with _first_delivery(uow_factory, envelope) as uow:
        if uow is None:
            return
        cause = _cause(envelope)
        for shipped in payload.lines:
            shipment = Shipment(
                shipment_id=payload.shipment_id,
                quantity=shipped.quantity,
                carrier=payload.carrier_name,
                tracking_number=payload.tracking_number,
                tracking_url=payload.tracking_url,
                shipped_at=payload.shipped_at,
            )
            await _change_line(uow, shipped.backorder_line_id, cause, _ship(shipment, rules))


async def on_line_cancellation_resolved(uow_factory: UnitOfWorkFactory, envelope: Envelope) -> None:
    payload = envelope.payload_as(LineCancellationResolved)
    async with _first_delivery(uow_factory, envelope) as uow:
        if uow is None:
            return
        await _change_line(
            uow,
            payload.backorder_line_id,
            _cause(envelope),
            lambda order, line_no, c: order.resolve_cancellation(line_no, payload.outcome, c),
        )


async def on_purchase_order_failed(uow_factory: UnitOfWorkFactory, envelope: Envelope) -> None:
    """The PO will not be placed (refused by the supplier, unknown supplier, given up): its lines are rejected."""
    payload = envelope.payload_as(PurchaseOrderFailed)
    async with _first_delivery(uow_factory, envelope) as uow:
        if uow is None:
            return
        cause = _cause(envelope)
        for line_id in payload.backorder_line_ids:
            await _change_line(
                uow,
                line_id,
                cause,
                lambda order, line_no, c: order.purchase_order_failed(line_no, payload.po_number, payload.reason, c),
            )
