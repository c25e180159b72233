"""The customer's order, its lines and the catalog products they draw stock from: pure rules, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from dropship_shared.events import Address, BackorderCancelled, BackorderCreated, Payload
from orders.domain.effects import (
    ConsolationCredit,
    CustomerMessage,
    MessageKind,
    MoneyMovement,
    MovementKind,
)
from orders.domain.lifecycle import CLOSED, WAITING, LineStatus, Transition, can_move
from orders.domain.promise import (
    Promise,
    PromiseRules,
    ReleaseEstimate,
    consolation_amount,
    consolation_due,
    delivery_after_release,
    delivery_after_ship_date,
    deserves_delay_notice,
    expected_release,
    moves_promise,
)
from orders.domain.routing import Offer, RoutingDecision
from orders.domain.sourcing import Sourcing

DEFAULT_RULES = PromiseRules()
WAITING_FOR_OPERATOR = "waiting for an operator: "
# a re-routed line's current backorder, cancelled because the supplier it left shipped the goods after all
SHIPPED_BY_PREVIOUS_SUPPLIER = "shipped_by_previous_supplier"

__all__ = [
    "LineStatus",
    "Order",
    "OrderError",
    "OrderLine",
    "Product",
    "ProductOffer",
    "RequestedLine",
    "Shipment",
    "UnknownSku",
]


class OrderError(Exception):
    """A business rule refused the request (the API turns it into a 4xx)."""


class LineNotFound(OrderError):
    """The order exists but has no line with this number (the API answers 404, not 409)."""


class UnknownSku(OrderError):
    def __init__(self, skus: list[str]) -> None:
        super().__init__(f"unknown SKU(s): {', '.join(skus)}")
        self.skus = skus


@dataclass
class Product:
    sku: str
    name: str
    supplier_id: str
    supplier_sku: str
    price: Decimal
    cost: Decimal
    on_hand: int
    lead_time_days: int = 7  # the supplier's days from purchase order to shipping
    # Units on their way to the merchant's warehouse not yet promised to a line, and when they should be in.
    incoming_free: int = 0
    incoming_expected_at: datetime | None = None

    def take(self, wanted: int) -> int:
        """Take what stock there is, up to `wanted`; never below zero (no overselling)."""
        taken = min(self.on_hand, wanted)
        self.on_hand -= taken
        return taken

    def take_incoming(self, wanted: int) -> bool:
        """Promise `wanted` incoming units to a line if they cover it whole (a line has one source)."""
        if wanted <= 0 or wanted > self.incoming_free or self.incoming_expected_at is None:
            return False
        self.incoming_free -= wanted
        return True


@dataclass(frozen=True)
class ProductOffer:
    """One supplier's offer of a product: its SKU there, what a unit costs us, its days from PO to shipping,
    and the merchant's preference (lower priority first). An inactive offer is kept (lines may name it) but
    never chosen. The supplier's batching policy and small-order fee are the aggregator's."""

    sku: str
    supplier_id: str
    supplier_sku: str
    unit_cost: Decimal
    lead_time_days: int
    priority: int = 0
    active: bool = True

    @classmethod
    def of(cls, product: Product) -> ProductOffer:
        """The offer a catalog import names with the product (its one supplier)."""
        return cls(product.sku, product.supplier_id, product.supplier_sku, product.cost, product.lead_time_days)

    def for_routing(self) -> Offer:
        return Offer(
            self.supplier_id, self.supplier_sku, self.unit_cost, self.lead_time_days, self.priority, self.active
        )


@dataclass
class Shipment:
    shipment_id: str
    quantity: int
    carrier: str
    tracking_number: str
    tracking_url: str | None
    shipped_at: datetime


@dataclass
class OrderLine:
    line_no: int
    sku: str
    quantity: int
    unit_price: Decimal
    allocated_qty: int
    backordered_qty: int
    status: LineStatus
    supplier_id: str | None = None
    po_number: str | None = None
    shipments: list[Shipment] = field(default_factory=list)
    lead_time_days: int = 0
    promised_date: date | None = None
    cancelled_qty: int = 0
    rejected_qty: int = 0
    status_reason: str | None = None
    delivered_at: datetime | None = None
    history: list[Transition] = field(default_factory=list)
    promises: list[Promise] = field(default_factory=list)
    credit: Decimal | None = None
    awaits_incoming: bool = False  # waits for units incoming to the warehouse, not in a supplier batch
    # Routing: times the line moved to another offer, the suppliers it was sent to (each once), the latest
    # decision with its alternatives and numbers, and whether a refused line waits for an operator.
    route_no: int = 0
    tried_suppliers: list[str] = field(default_factory=list)
    routing: dict[str, Any] | None = None
    awaits_operator: bool = False

    @property
    def shipped_qty(self) -> int:
        return sum(shipment.quantity for shipment in self.shipments)

    @property
    def open_qty(self) -> int:
        """Backordered units still expected (from the supplier, or the warehouse's incoming stock)."""
        expected = self.backordered_qty - self.shipped_qty - self.cancelled_qty - self.rejected_qty
        return max(min(expected, self.quantity - self.allocated_qty), 0)

    @property
    def first_promised_date(self) -> date | None:
        return self.promises[0].promised_date if self.promises else None

    def backorder_line_id(self, order_id: str) -> str:
        """`<order>-<line>`, then `<order>-<line>-r<n>` once re-routed: the PO that held it before keeps its id."""
        return backorder_line_id(order_id, self.line_no, self.route_no)

    def status_before_cancel_request(self) -> LineStatus:
        for transition in reversed(self.history):
            if transition.to_status == LineStatus.CANCEL_REQUESTED and transition.from_status is not None:
                return transition.from_status
        return LineStatus.ON_PURCHASE_ORDER


def backorder_line_id(order_id: str, line_no: int, route_no: int = 0) -> str:
    return f"{order_id}-{line_no}" + (f"-r{route_no}" if route_no else "")


def split_backorder_line_id(backorder_line_id: str) -> tuple[str, int, int]:
    """(order id, line number, route number) of `<order>-<line>[-r<n>]`; ValueError for another system's id."""
    head, _, last = backorder_line_id.rpartition("-")
    route_no = 0
    if last.startswith("r") and last[1:].isdigit():
        route_no = int(last[1:])
        head, _, last = head.rpartition("-")
    if not head or not last.isdigit():
        raise ValueError(f"not an order line: {backorder_line_id!r}")
    return head, int(last), route_no


@dataclass(frozen=True)
class RequestedLine:
    sku: str
    quantity: int


@dataclass(frozen=True)
class Cause:
    """Why a change happened: the audit trail's cause and, for events, the event id."""

    at: datetime
    name: str
    event_id: str | None = None


@dataclass
class Order:
    order_id: str
    customer_email: str
    ship_to: Address
    placed_at: datetime
    lines: list[OrderLine]
    currency: str = "USD"
    events: list[Payload] = field(default_factory=list)
    messages: list[CustomerMessage] = field(default_factory=list)
    movements: list[MoneyMovement] = field(default_factory=list)
    credits: list[ConsolationCredit] = field(default_factory=list)
    new_transitions: list[Transition] = field(default_factory=list)
    new_promises: list[Promise] = field(default_factory=list)

    @classmethod
    def place(
        cls,
        order_id: str,
        customer_email: str,
        ship_to: Address,
        requested: list[RequestedLine],
        products: dict[str, Product],
        placed_at: datetime,
        rules: PromiseRules | None = None,
        release_estimates: dict[str, ReleaseEstimate] | None = None,
        sourcing: Sourcing | None = None,
    ) -> Order:
        """Serve each line from stock as far as it goes; every shortfall becomes a backorder with a promised date.

        With `sourcing`, a backorder goes to the offer routing picks (its supplier, cost and lead time; its date
        from that offer's batch as it stands); without, or with no active offer, to the product's supplier."""
        rules = rules or PromiseRules()
        unknown = sorted({line.sku for line in requested if line.sku not in products})
        if unknown:
            raise UnknownSku(unknown)
        order = cls(order_id, customer_email, ship_to, placed_at, [])
        cause = Cause(placed_at, "order_placed")
        for line_no, wanted in enumerate(requested, start=1):
            product = products[wanted.sku]
            allocated = product.take(wanted.quantity)
            short = wanted.quantity - allocated
            line = OrderLine(
                line_no=line_no,
                sku=wanted.sku,
                quantity=wanted.quantity,
                unit_price=product.price,
                allocated_qty=allocated,
                backordered_qty=short,
                status=LineStatus.BACKORDERED if short else LineStatus.ALLOCATED,
                supplier_id=product.supplier_id if short else None,
                lead_time_days=product.lead_time_days,
            )
            order.lines.append(line)
            order._record(line, None, line.status, cause)
            if allocated:
                # Stock in hand leaves the warehouse with the order: that part is paid for at once.
                order._capture(line, allocated, f"{order_id}-{line_no}-stock")
            if short and product.take_incoming(short):
                # Surplus on its way to the warehouse covers it: no supplier order, no new surplus.
                line.awaits_incoming = True
                assert product.incoming_expected_at is not None
                arrival = max(product.incoming_expected_at, placed_at).date()
                order._promise(line, delivery_after_ship_date(arrival, rules), cause)
            elif short:
                decision = sourcing.route(product.sku, short, placed_at, rules) if sourcing else None
                if sourcing is not None and decision is not None:
                    order._send(line, decision, short, cause)
                    sourcing.joined(decision.offer, short)
                    order._promise(line, decision.expected_delivery, cause)
                else:
                    estimate = (release_estimates or {}).get(product.supplier_id)
                    release = expected_release(placed_at, estimate, rules)
                    order._promise(line, delivery_after_release(release, line.lead_time_days, rules), cause)
                    catalog_offer = ProductOffer.of(product).for_routing()
                    order.events.append(order._backorder(line, catalog_offer, short, placed_at))
        backordered = [line for line in order.lines if line.backordered_qty]
        if backordered:
            order.messages.append(
                CustomerMessage(
                    MessageKind.BACKORDER_PLACED,
                    order_id,
                    key=f"{order_id}:placed",
                    context={
                        "lines": [
                            {
                                "line_no": line.line_no,
                                "sku": line.sku,
                                "quantity": line.backordered_qty,
                                "promised_date": str(line.promised_date),
                            }
                            for line in backordered
                        ]
                    },
                )
            )
        return order

    # -- reading -------------------------------------------------------------------

    @property
    def total(self) -> Decimal:
        return sum((line.quantity * line.unit_price for line in self.lines), Decimal(0))

    @property
    def status(self) -> str:
        """The order's status derives from its lines."""
        statuses = {line.status for line in self.lines}
        if statuses <= CLOSED:
            return "cancelled"
        open_statuses = statuses - CLOSED
        if open_statuses <= {LineStatus.DELIVERED}:
            return "delivered"
        if open_statuses <= {LineStatus.ALLOCATED, LineStatus.SHIPPED, LineStatus.DELIVERED}:
            return "fulfilled"
        if open_statuses & {LineStatus.SHIPPED, LineStatus.PARTIALLY_SHIPPED, LineStatus.DELIVERED}:
            return "partially_shipped"
        return "awaiting_supplier"

    def line(self, line_no: int) -> OrderLine:
        for line in self.lines:
            if line.line_no == line_no:
                return line
        raise LineNotFound(f"order {self.order_id} has no line {line_no}")

    # -- customer commands -----------------------------------------------------------

    def cancel_line(self, line_no: int, cause: Cause) -> None:
        """Cancel what is still awaited on a line: at once before its PO, else by asking the supplier.

        Repeating it changes nothing."""
        line = self.line(line_no)
        if line.status in (LineStatus.CANCELLED, LineStatus.CANCEL_REQUESTED):
            return
        if line.status == LineStatus.BACKORDERED:
            self._close_open_units(line, LineStatus.CANCELLED, cause, reason="customer_request")
            if line.awaits_incoming or line.awaits_operator:
                line.awaits_operator = False
                return  # in no supplier batch (incoming units, now free again; or waiting for an operator)
        elif line.status in WAITING:
            self._move(line, LineStatus.CANCEL_REQUESTED, cause)
        else:
            raise OrderError(f"line {line_no} is {line.status.value}; there is nothing left to cancel")
        self.events.append(
            BackorderCancelled(
                backorder_line_id=line.backorder_line_id(self.order_id), supplier_id=line.supplier_id or ""
            )
        )

    def cancel(self, cause: Cause) -> None:
        """Cancel the whole order: every line that still waits; lines already served stay as they are."""
        for line in self.lines:
            if line.status in WAITING:
                self.cancel_line(line.line_no, cause)

    def confirm_delivery(self, line_no: int, cause: Cause) -> None:
        line = self.line(line_no)
        if line.status == LineStatus.DELIVERED:
            return
        if line.status not in (LineStatus.SHIPPED, LineStatus.ALLOCATED):
            raise OrderError(f"line {line_no} is {line.status.value}; only shipped goods can be delivered")
        line.delivered_at = cause.at
        self._move(line, LineStatus.DELIVERED, cause)

    # -- what the aggregator and the supplier tell us --------------------------------

    def mark_on_purchase_order(
        self, line_no: int, po_number: str, cause: Cause, rules: PromiseRules = DEFAULT_RULES
    ) -> None:
        """The batch left for the supplier: its release is no longer an estimate but a fact."""
        line = self.line(line_no)
        if line.status == LineStatus.BACKORDERED:
            line.po_number = po_number
            self._move(line, LineStatus.ON_PURCHASE_ORDER, cause)
            released = delivery_after_release(cause.at, line.lead_time_days, rules)
            self._repromise(line, released, rules, cause, firm=True)

    def serve_from_stock(self, line_no: int, rules: PromiseRules, cause: Cause) -> bool:
        """Received stock serves a line still waiting before its batch left: it leaves from the warehouse now
        (paid for now, like stock at the order) and its date is that of a line in stock, told once."""
        line = self.line(line_no)
        units = line.open_qty
        if line.status != LineStatus.BACKORDERED or units == 0:
            return False
        self._repromise(line, delivery_after_ship_date(cause.at.date(), rules), rules, cause, firm=True)
        line.allocated_qty += units
        line.awaits_incoming = line.awaits_operator = False
        self._move(line, LineStatus.ALLOCATED, cause)
        self._capture(line, units, f"{self.order_id}-{line_no}-received-stock")
        return True

    def learn_purchase_order(self, line_no: int, po_number: str) -> None:
        """A supplier's word about a line names its PO: events arrive in any order, so a shipment handled
        before the PO's own event still leaves the line showing its PO."""
        line = self.line(line_no)
        line.po_number = line.po_number or po_number

    def expect_release(
        self,
        line_no: int,
        release_at: datetime,
        rules: PromiseRules,
        cause: Cause,
        latest_release_at: datetime | None = None,
    ) -> None:
        """The aggregator estimated when the line's batch goes to the supplier.

        An estimate beyond the tolerance moves the promise to the batch's latest release (its deadline)
        when known, not just to the estimate: a fading arrival rate then cannot slip it again and again."""
        line = self.line(line_no)
        if line.status != LineStatus.BACKORDERED or line.promised_date is None:
            return
        released = delivery_after_release(release_at, line.lead_time_days, rules)
        if not moves_promise(line.promised_date, released, firm=False, rules=rules):
            return
        if latest_release_at is not None and latest_release_at > release_at:
            released = delivery_after_release(latest_release_at, line.lead_time_days, rules)
        self._repromise(line, released, rules, cause, firm=False)

    def batch_escalated(self, line_no: int, oldest_received_at: datetime) -> None:
        """The supplier's minimum was not reached by the deadline: tell the customer at once, once."""
        line = self.line(line_no)
        if line.status != LineStatus.BACKORDERED:
            return
        self.messages.append(
            CustomerMessage(
                MessageKind.WAIT_EXTENDED,
                self.order_id,
                key=f"{self.order_id}:{line_no}:wait_extended:{oldest_received_at.isoformat()}",
                line_no=line_no,
                context={"sku": line.sku, "quantity": line.open_qty, "promised_date": str(line.promised_date)},
            )
        )

    def acknowledge(
        self,
        line_no: int,
        po_number: str,
        answer: str,
        expected_ship_date: date | None,
        reason: str | None,
        rules: PromiseRules,
        cause: Cause,
        rejected_quantity: int = 0,
        sourcing: Sourcing | None = None,
    ) -> None:
        """The supplier accepted, backordered (with a date) or rejected the line; an acceptance of part of it
        rejects the rest (`rejected_quantity`, the units refused in all).

        With `sourcing`, a rejected line moves to its next untried offer, and so does a line backordered at the
        supplier beyond its promise when another offer delivers sooner (its PO line is cancelled)."""
        line = self.line(line_no)
        if line.status not in WAITING - {LineStatus.PARTIALLY_SHIPPED}:
            return
        line.po_number = line.po_number or po_number
        if answer == "rejected":
            words = reason or "rejected by the supplier"
            if sourcing is not None and self._move_on(line, words, sourcing, rules, cause):
                return
            self._close_open_units(line, LineStatus.REJECTED, cause, reason=words)
            return
        if (
            answer == "backordered"
            and sourcing is not None
            and expected_ship_date is not None
            and not rejected_quantity
        ):
            supplier_date = delivery_after_ship_date(expected_ship_date, rules)
            if line.promised_date is not None and supplier_date > line.promised_date:
                words = f"our supplier has it on backorder until {expected_ship_date}"
                if self._move_on(line, words, sourcing, rules, cause, sooner_than=supplier_date):
                    return
        if rejected_quantity > line.rejected_qty:
            self._reject_part(line, rejected_quantity - line.rejected_qty, reason, cause)
            if line.status in CLOSED or line.open_qty == 0:
                return
        target = LineStatus.BACKORDERED_AT_SUPPLIER if answer == "backordered" else LineStatus.ACKNOWLEDGED
        if line.status != LineStatus.CANCEL_REQUESTED and line.status != target:
            self._move(line, target, cause)
        if expected_ship_date is not None:
            self._repromise(line, delivery_after_ship_date(expected_ship_date, rules), rules, cause, firm=True)

    def record_shipment(self, line_no: int, shipment: Shipment, rules: PromiseRules, cause: Cause) -> bool:
        """Apply a shipment to a line once (by shipment id); False when it was already applied."""
        line = self.line(line_no)
        if any(existing.shipment_id == shipment.shipment_id for existing in line.shipments):
            return False
        expected_before = line.open_qty
        revived = self._revive_closed(line, shipment.quantity - expected_before, shipment.shipment_id)
        line.shipments.append(shipment)
        self._capture(
            line,
            min(shipment.quantity, expected_before + revived),
            f"{self.order_id}-{line_no}-{shipment.shipment_id}",
        )
        fully = line.open_qty == 0
        if (line.status in WAITING or revived) and not (line.status == LineStatus.CANCEL_REQUESTED and not fully):
            self._move(line, LineStatus.SHIPPED if fully else LineStatus.PARTIALLY_SHIPPED, cause)
        arrival = delivery_after_ship_date(shipment.shipped_at.date(), rules)
        if fully and arrival != line.promised_date:
            self._promise(line, arrival, cause)
        self.messages.append(
            CustomerMessage(
                MessageKind.SHIPPED,
                self.order_id,
                key=f"{self.order_id}:{line_no}:shipped:{shipment.shipment_id}",
                line_no=line_no,
                context={
                    "sku": line.sku,
                    "quantity": shipment.quantity,
                    "remaining": line.open_qty,
                    "carrier": shipment.carrier,
                    "tracking_number": shipment.tracking_number,
                    "tracking_url": shipment.tracking_url,
                    "promised_date": str(arrival),
                },
            )
        )
        return True

    def record_shipment_from_left_route(
        self, line_no: int, shipment: Shipment, rules: PromiseRules, cause: Cause
    ) -> None:
        """Goods from a supplier the line was re-routed away from (it refused our cancel request, or shipped
        before it heard of it): they count, and are captured only up to what was still open (never twice).
        When they cover the line, its current backorder is cancelled (`shipped_by_previous_supplier`: taken
        out of its batch, or a cancel request to the new supplier, whose refusal the gateway files for
        operations), so the customer does not get it twice; a line waiting for an operator stops waiting."""
        line = self.line(line_no)
        open_before = line.open_qty
        if not self.record_shipment(line_no, shipment, rules, cause) or not open_before or line.open_qty:
            return
        if line.awaits_operator:  # nothing was sent under the new id
            line.awaits_operator = False
            return
        self.events.append(
            BackorderCancelled(
                backorder_line_id=line.backorder_line_id(self.order_id),
                supplier_id=line.supplier_id or "",
                reason=SHIPPED_BY_PREVIOUS_SUPPLIER,
            )
        )

    def purchase_order_failed(
        self,
        line_no: int,
        po_number: str,
        reason: str,
        cause: Cause,
        sourcing: Sourcing | None = None,
        rules: PromiseRules = DEFAULT_RULES,
    ) -> None:
        """The supplier refused the PO at placement, or it could not be placed (unreachable past its give-up):
        with `sourcing`, the line moves to its next untried offer (or waits for an operator); else, or with no
        offer left, it is rejected, its money released, the customer told why."""
        line = self.line(line_no)
        if line.status not in WAITING or line.po_number not in (None, po_number):
            return
        line.po_number = po_number
        words = f"our supplier could not take the order ({reason})"
        if sourcing is not None and self._move_on(line, words, sourcing, rules, cause):
            return
        self._close_open_units(line, LineStatus.REJECTED, cause, reason=words)

    def purchase_order_cancelled(self, line_no: int, po_number: str, reason: str, cause: Cause) -> None:
        """We cancelled the PO before it reached the supplier: a line the customer asked to cancel is
        cancelled, any other is rejected (it will not come); its money is released, the customer told why."""
        line = self.line(line_no)
        if line.status not in WAITING or line.po_number not in (None, po_number):
            return
        line.po_number = po_number
        if line.status == LineStatus.CANCEL_REQUESTED:
            self._close_open_units(line, LineStatus.CANCELLED, cause, reason="customer_request")
            return
        words = f"the order to our supplier was cancelled ({reason})"
        self._close_open_units(line, LineStatus.REJECTED, cause, reason=words)

    def supplier_late(self, line_no: int, assumed_ship_date: date, rules: PromiseRules, cause: Cause) -> None:
        """The supplier missed the ship date it acknowledged: the promise moves (the customer hears of a slip)."""
        line = self.line(line_no)
        if line.status in WAITING and line.open_qty:
            self._repromise(line, delivery_after_ship_date(assumed_ship_date, rules), rules, cause, firm=True)

    def resolve_cancellation(self, line_no: int, outcome: str, cause: Cause, reason: str | None = None) -> None:
        """The supplier's answer to our cancel request: cancelled, or refused (its words in `reason`, e.g. it
        already shipped): the line goes on and the customer is told why."""
        line = self.line(line_no)
        if line.status != LineStatus.CANCEL_REQUESTED:
            return
        if outcome == "cancelled":
            self._close_open_units(line, LineStatus.CANCELLED, cause, reason="customer_request")
            return
        resumed = LineStatus.SHIPPED if line.open_qty == 0 else line.status_before_cancel_request()
        if line.shipped_qty and resumed != LineStatus.SHIPPED:
            resumed = LineStatus.PARTIALLY_SHIPPED
        self._move(line, resumed, cause)
        self.messages.append(
            CustomerMessage(
                MessageKind.CANCEL_REFUSED,
                self.order_id,
                key=f"{self.order_id}:{line_no}:cancel_refused",
                line_no=line_no,
                context={
                    "sku": line.sku,
                    "quantity": line.backordered_qty,
                    "promised_date": str(line.promised_date),
                    "reason": reason,
                },
            )
        )

    def reroute_by_operator(
        self, line_no: int, sourcing: Sourcing, rules: PromiseRules, cause: Cause, supplier_id: str | None = None
    ) -> None:
        """An operator sends a line waiting for them to its next untried offer, or to `supplier_id` (even one
        tried before: the operator says otherwise)."""
        line = self.line(line_no)
        if not line.awaits_operator:
            raise OrderError(f"line {line_no} is not waiting for an operator")
        tried = frozenset(line.tried_suppliers) | {line.supplier_id or ""}
        if supplier_id is not None:
            tried = frozenset(offer.supplier_id for offer in sourcing.offers.get(line.sku, ())) - {supplier_id}
        decision = sourcing.route(line.sku, line.open_qty, cause.at, rules, tried)
        if decision is None:
            named = f"supplier {supplier_id}" if supplier_id else "an untried offer"
            raise OrderError(f"line {line_no} has no active offer from {named}")
        why = (line.status_reason or "").removeprefix(WAITING_FOR_OPERATOR) or "an operator's decision"
        self._reroute(line, decision, f"{why} (re-routed by an operator)", rules, cause)

    def reject_by_operator(self, line_no: int, reason: str, cause: Cause) -> None:
        """An operator rejects a line waiting for them: its money released, the customer told why."""
        line = self.line(line_no)
        if not line.awaits_operator:
            raise OrderError(f"line {line_no} is not waiting for an operator")
        line.awaits_operator = False
        self._close_open_units(line, LineStatus.REJECTED, cause, reason=reason)

    # -- the rules behind the steps ---------------------------------------------------

    def _move_on(
        self,
        line: OrderLine,
        why: str,
        sourcing: Sourcing,
        rules: PromiseRules,
        cause: Cause,
        sooner_than: date | None = None,
    ) -> bool:
        """The line's supplier will not (or not in time) supply it: it moves to the next untried offer, or waits
        for an operator (per setting). False when no offer is left (or none delivers before `sooner_than`):
        the caller goes on as without routing. A line the customer asked to cancel is not moved."""
        if line.status == LineStatus.CANCEL_REQUESTED or line.open_qty == 0:
            return False
        tried = frozenset(line.tried_suppliers) | {line.supplier_id or ""}
        decision = sourcing.route(line.sku, line.open_qty, cause.at, rules, tried)
        if decision is None or (sooner_than is not None and decision.expected_delivery >= sooner_than):
            return False
        if sooner_than is not None:
            # still on the supplier's PO: its line is cancelled there (the answer about it is for the old id)
            self.events.append(
                BackorderCancelled(
                    backorder_line_id=line.backorder_line_id(self.order_id),
                    supplier_id=line.supplier_id or "",
                    reason="rerouted",
                )
            )
        if not sourcing.automatic:
            line.awaits_operator = True
            line.status_reason = f"{WAITING_FOR_OPERATOR}{why}"
            line.route_no += 1  # whatever the operator decides, the old PO keeps the old id
            line.po_number = None
            if line.status != LineStatus.BACKORDERED:
                self._move(line, LineStatus.BACKORDERED, cause)
            return True
        self._reroute(line, decision, why, rules, cause, new_id=True)
        return True

    def _reroute(
        self,
        line: OrderLine,
        decision: RoutingDecision,
        why: str,
        rules: PromiseRules,
        cause: Cause,
        new_id: bool = False,
    ) -> None:
        """The line goes to the chosen offer under a new backorder line id (the old PO's record stays true); its
        payment authorization is kept, its promise comes from the new offer, told only if the date changes."""
        if new_id:
            line.route_no += 1
        line.po_number = None
        line.status_reason = f"re-routed to {decision.offer.supplier_id}: {why}"
        if line.status != LineStatus.BACKORDERED:
            self._move(line, LineStatus.BACKORDERED, cause)
        self._send(line, decision, line.open_qty, cause, why)
        self._repromise(line, decision.expected_delivery, rules, cause, firm=True, tell=True)

    def _backorder(self, line: OrderLine, offer: Offer, units: int, at: datetime) -> BackorderCreated:
        return BackorderCreated(
            backorder_line_id=line.backorder_line_id(self.order_id),
            order_id=self.order_id,
            line_no=line.line_no,
            sku=line.sku,
            supplier_id=offer.supplier_id,
            supplier_sku=offer.supplier_sku,
            quantity=units,
            unit_cost=offer.unit_cost,
            ship_to=self.ship_to,
            customer_ref=f"{self.order_id}/{line.line_no}",
            ordered_at=at,
        )

    def _send(
        self, line: OrderLine, decision: RoutingDecision, units: int, cause: Cause, why: str | None = None
    ) -> None:
        """The line's open units go to the chosen offer's batch: its supplier, lead time and decision recorded."""
        offer = decision.offer
        line.supplier_id = offer.supplier_id
        line.lead_time_days = offer.lead_time_days
        line.tried_suppliers = [*line.tried_suppliers, offer.supplier_id]
        line.routing = decision.as_record() | ({"rerouted_because": why} if why else {})
        line.awaits_operator = False
        self.events.append(self._backorder(line, offer, units, cause.at))

    def _move(self, line: OrderLine, to_status: LineStatus, cause: Cause) -> None:
        if not can_move(line.status, to_status):
            raise OrderError(f"line {line.line_no} cannot go from {line.status.value} to {to_status.value}")
        self._record(line, line.status, to_status, cause)
        line.status = to_status

    def _record(self, line: OrderLine, from_status: LineStatus | None, to_status: LineStatus, cause: Cause) -> None:
        transition = Transition(line.line_no, from_status, to_status, cause.at, cause.name, cause.event_id)
        line.history.append(transition)
        self.new_transitions.append(transition)

    def _close_open_units(self, line: OrderLine, to_status: LineStatus, cause: Cause, reason: str) -> None:
        """Cancel or reject what the supplier has not shipped: release its money and tell the customer."""
        units = line.open_qty
        if to_status == LineStatus.CANCELLED:
            line.cancelled_qty += units
        else:
            line.rejected_qty += units
        line.status_reason = reason
        self._release(line, units, f"{self.order_id}-{line.line_no}-{to_status.value}")
        # Whatever already shipped stands: such a line ends shipped, for the units that did.
        self._move(line, LineStatus.SHIPPED if line.shipped_qty else to_status, cause)
        kind = MessageKind.CANCELLED if to_status == LineStatus.CANCELLED else MessageKind.REJECTED
        self._tell_closed(line, kind, units, kind.value)

    def _revive_closed(self, line: OrderLine, units: int, shipment_id: str) -> int:
        """Units shipped beyond what was awaited, for units we believed cancelled or rejected: the shipment
        wins, their money is authorized again to be captured."""
        from_cancelled = min(max(units, 0), line.cancelled_qty)
        from_rejected = min(max(units, 0) - from_cancelled, line.rejected_qty)
        revived = from_cancelled + from_rejected
        if revived:
            line.cancelled_qty -= from_cancelled
            line.rejected_qty -= from_rejected
            amount = revived * line.unit_price
            reference = f"{self.order_id}-{line.line_no}-{shipment_id}-reauthorized"
            again = MoneyMovement(MovementKind.REAUTHORIZE, self.order_id, line.line_no, amount, reference)
            self.movements.append(again)
        return revived

    def _reject_part(self, line: OrderLine, units: int, reason: str | None, cause: Cause) -> None:
        """The supplier takes only part of the line: the rest is rejected, released and explained."""
        units = min(units, line.open_qty)
        if units <= 0:
            return
        line.rejected_qty += units
        line.status_reason = reason or "the supplier can supply only part of it"
        self._release(line, units, f"{self.order_id}-{line.line_no}-rejected-part-{line.rejected_qty}")
        if line.open_qty == 0:
            self._move(line, LineStatus.SHIPPED if line.shipped_qty else LineStatus.REJECTED, cause)
        self._tell_closed(line, MessageKind.REJECTED, units, f"rejected-part-{line.rejected_qty}")

    def _tell_closed(self, line: OrderLine, kind: MessageKind, units: int, key: str) -> None:
        """Tell the customer that units of a line will not come, why, and what is not charged."""
        self.messages.append(
            CustomerMessage(
                kind,
                self.order_id,
                key=f"{self.order_id}:{line.line_no}:{key}",
                line_no=line.line_no,
                context={
                    "sku": line.sku,
                    "quantity": units,
                    "reason": line.status_reason,
                    "refund": str(units * line.unit_price),
                },
            )
        )

    def _promise(self, line: OrderLine, promised: date, cause: Cause) -> None:
        line.promised_date = promised
        promise = Promise(line.line_no, promised, cause.at, cause.name, cause.event_id)
        line.promises.append(promise)
        self.new_promises.append(promise)

    def _repromise(
        self, line: OrderLine, promised: date, rules: PromiseRules, cause: Cause, firm: bool, tell: bool = False
    ) -> None:
        """A new date: moved only past the hysteresis (see `moves_promise`), kept in the history, and told
        once: a delay with an apology (unless the goods still leave within the quick-ship window and not `tell`:
        the line moved to another supplier, a move the customer hears of), an earlier date as good news; a long
        slip against the first promise is consoled, once per line."""
        previous = line.promised_date
        if previous is None:
            self._promise(line, promised, cause)
            return
        if not moves_promise(previous, promised, firm, rules):
            return
        self._promise(line, promised, cause)
        if promised < previous:
            self._tell_date(MessageKind.DATE_IMPROVED, line, previous, {})
            return
        credit = None
        first = line.first_promised_date or previous
        if line.credit is None and consolation_due(promised, first, rules):
            credit = consolation_amount(line.backordered_qty, line.unit_price, rules)
            line.credit = credit
            self.credits.append(
                ConsolationCredit(self.order_id, line.line_no, credit, f"promise slipped from {first} to {promised}")
            )
        if tell or credit is not None or deserves_delay_notice(promised, previous, cause.at.date(), rules):
            self._tell_date(MessageKind.DATE_MOVED, line, previous, {"credit": None if credit is None else str(credit)})

    def _tell_date(self, kind: MessageKind, line: OrderLine, previous: date, extra: dict[str, str | None]) -> None:
        """One message per move of the line's date (keyed by the move, so it is never sent twice)."""
        self.messages.append(
            CustomerMessage(
                kind,
                self.order_id,
                key=f"{self.order_id}:{line.line_no}:date:{len(line.promises)}",
                line_no=line.line_no,
                context={
                    "sku": line.sku,
                    "quantity": line.open_qty,
                    "previous_date": str(previous),
                    "promised_date": str(line.promised_date),
                    **extra,
                },
            )
        )

    def _capture(self, line: OrderLine, units: int, reference: str) -> None:
        if units > 0:
            self.movements.append(
                MoneyMovement(MovementKind.CAPTURE, self.order_id, line.line_no, units * line.unit_price, reference)
            )

    def _release(self, line: OrderLine, units: int, reference: str) -> None:
        if units > 0:
            self.movements.append(
                MoneyMovement(MovementKind.RELEASE, self.order_id, line.line_no, units * line.unit_price, reference)
            )
