"""Stock received into the merchant's warehouse (an operator's receipt, or surplus due after its shipment notice):
it serves the lines waiting for it first, then the oldest lines still in a supplier batch, then new orders."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from dropship_shared.events import BackorderWithdrawalRequested, BackorderWithdrawn, Envelope, utcnow
from dropship_shared.unit_of_work import UnitOfWorkFactory
from orders.domain.model import Cause, UnknownSku, split_backorder_line_id
from orders.domain.promise import PromiseRules
from orders.domain.receiving import plan_receipt
from orders.service_layer.event_handlers import CONSUMER
from orders.service_layer.handlers import apply_consequences
from orders.service_layer.unit_of_work import OrdersUnitOfWork


@dataclass(frozen=True)
class Receipt:
    sku: str
    quantity: int
    key: str  # once per key: an operator's Idempotency-Key, or the PO and SKU of a shipment notice
    source: str  # operator | shipment_notice
    po_number: str | None = None


@dataclass(frozen=True)
class ReceiptOutcome:
    sku: str
    received: int
    duplicate: bool
    on_hand: int
    served: list[str] = field(default_factory=list)  # lines served from the warehouse now
    withdrawals_requested: list[str] = field(default_factory=list)  # lines asked out of their supplier batch


async def receive_stock(
    uow_factory: UnitOfWorkFactory[OrdersUnitOfWork], receipt: Receipt, rules: PromiseRules, correlation_id: str
) -> ReceiptOutcome:
    """Count the units in, serve the waiting lines, set units aside for the batch lines to withdraw. The orders
    are locked before the product (the service's one lock order), so this never deadlocks with events."""
    async with uow_factory() as uow:
        uow.correlation_id = correlation_id
        now = utcnow()
        waiting = await uow.orders.waiting_for_stock(receipt.sku)
        await uow.orders.lock(line.order_id for line in waiting)
        product = await uow.products.lock(receipt.sku)
        if product is None:
            raise UnknownSku([receipt.sku])
        if not await uow.receipts.add(
            receipt.key, receipt.sku, receipt.quantity, receipt.po_number, receipt.source, now
        ):
            return ReceiptOutcome(receipt.sku, 0, True, product.on_hand)
        await uow.incoming.receive(receipt.sku, receipt.quantity, receipt.po_number)
        product.on_hand += receipt.quantity
        plan = plan_receipt(product.on_hand, waiting)
        cause = Cause(now, f"stock_received:{receipt.source}")
        served: list[str] = []
        withdrawing: list[str] = []
        by_order: dict[str, list[int]] = defaultdict(list)
        for line in plan.serve:
            by_order[line.order_id].append(line.line_no)
        for order_id in sorted(by_order):
            order = await uow.orders.get(order_id)
            if order is None:
                continue
            for line_no in by_order[order_id]:
                units = order.line(line_no).open_qty
                if order.serve_from_stock(line_no, rules, cause):
                    product.on_hand -= units
                    served.append(order.line(line_no).backorder_line_id(order_id))
            await uow.orders.save(order)
            await apply_consequences(uow, order)
        for line in plan.withdraw:
            product.on_hand -= line.quantity
            await uow.receipts.set_aside(line.backorder_line_id, receipt.sku, line.quantity, now)
            uow.emit(
                BackorderWithdrawalRequested(
                    backorder_line_id=line.backorder_line_id,
                    supplier_id=line.supplier_id or product.supplier_id,
                    quantity=line.quantity,
                )
            )
            withdrawing.append(line.backorder_line_id)
        await uow.products.save_stock([product])
        await uow.commit()
        return ReceiptOutcome(receipt.sku, receipt.quantity, False, product.on_hand, served, withdrawing)


async def on_backorder_withdrawn(
    uow_factory: UnitOfWorkFactory[OrdersUnitOfWork], envelope: Envelope, rules: PromiseRules | None = None
) -> None:
    """The aggregator's answer: the line left its batch (served from the units set aside) or had already left
    (the units go back to stock for new orders)."""
    payload = envelope.payload_as(BackorderWithdrawn)
    rules = rules or PromiseRules()
    order_id, line_no, _ = split_backorder_line_id(payload.backorder_line_id)
    async with uow_factory() as uow:
        await uow.orders.lock([order_id])  # first, as every writer of orders does
        if not await uow.first_delivery(CONSUMER, envelope):
            return  # a redelivery
        set_aside = await uow.receipts.take_set_aside(payload.backorder_line_id)
        if set_aside is None:
            await uow.commit()
            return
        sku, units = set_aside
        order = await uow.orders.get(order_id)
        served = False
        if order is not None:
            cause = Cause(utcnow(), envelope.type, str(envelope.event_id))
            served = payload.withdrawn and order.serve_from_stock(line_no, rules, cause)
            await uow.orders.save(order)
            await apply_consequences(uow, order)
        if not served:
            product = await uow.products.lock(sku)
            if product is not None:
                product.on_hand += units
                await uow.products.save_stock([product])
        await uow.commit()


async def receive_due_incoming(uow_factory: UnitOfWorkFactory[OrdersUnitOfWork], rules: PromiseRules) -> int:
    """Surplus whose shipment notice came in and whose receiving delay has passed becomes stock."""
    async with uow_factory() as uow:
        due = await uow.incoming.due(utcnow())
    for po_number, sku, _line_no, units in due:
        receipt = Receipt(sku, units, f"{po_number}:{sku}:shipment_notice", "shipment_notice", po_number)
        await receive_stock(uow_factory, receipt, rules, f"receiving-{po_number}")
    return len(due)


class Receiving:
    """The background loop receiving surplus as it comes due."""

    def __init__(
        self, uow_factory: UnitOfWorkFactory[OrdersUnitOfWork], rules: PromiseRules, interval: timedelta
    ) -> None:
        self._uow_factory, self._rules, self._interval = uow_factory, rules, interval

    async def run(self) -> None:
        while True:
            if await receive_due_incoming(self._uow_factory, self._rules) == 0:
                await asyncio.sleep(self._interval.total_seconds())
