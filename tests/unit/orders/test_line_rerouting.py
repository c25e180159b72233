"""Routing at backorder time and re-routing (issue 12): a line goes to the offer routing picks, and when its
supplier refuses it (or has it too late) it moves to the next untried offer under a new backorder line id,
keeping its payment authorization, its promise from the new offer, the customer told only of a new date."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from orders_factories import NOW, RULES, later, place, shipment

from dropship_shared.events import BackorderCancelled, BackorderCreated, BatchReleaseExpected
from orders.config import OrdersSettings
from orders.domain.effects import MessageKind, MovementKind
from orders.domain.model import LineStatus, Order, OrderError, RequestedLine, split_backorder_line_id
from orders.domain.routing import BatchOutlook, Offer
from orders.domain.sourcing import Sourcing, told_outlook

# TABLE: globex is cheaper but slow, initech dearer (within 10 %) and quick.
GLOBEX = Offer("globex", "GX-9", Decimal("210"), 10)
INITECH = Offer("initech", "IN-9", Decimal("220"), 3)


def sourcing(*offers: Offer, automatic: bool = True) -> Sourcing:
    """The offers, each supplier's batch below its minimum and expected to leave in a day."""
    offers = offers or (GLOBEX, INITECH)
    outlooks = {
        offer.supplier_id: BatchOutlook(offer.supplier_id, expected_release_at=NOW + timedelta(days=1), min_units=50)
        for offer in offers
    }
    return Sourcing({"TABLE": list(offers)}, outlooks, automatic=automatic)


def created(order: Order) -> list[BackorderCreated]:
    return [event for event in order.events if isinstance(event, BackorderCreated)]


def money(order: Order, kind: MovementKind) -> Decimal:
    return sum((m.amount for m in order.movements if m.kind == kind), Decimal(0))


def placed(source: Sourcing | None = None) -> Order:
    order = place([RequestedLine("TABLE", 2)], sourcing=source or sourcing())
    order.events.clear()
    order.messages.clear()
    return order


def test_a_backorder_goes_to_the_offer_routing_picks_with_its_decision_and_promise() -> None:
    order = place([RequestedLine("TABLE", 2)], sourcing=sourcing())
    line = order.lines[0]
    (event,) = created(order)
    assert (event.supplier_id, event.supplier_sku, event.unit_cost, event.backorder_line_id) == (
        "initech",
        "IN-9",
        Decimal("220"),
        "O1-1",
    )
    assert (line.supplier_id, line.lead_time_days, line.tried_suppliers) == ("initech", 3, ["initech"])
    assert line.routing is not None and line.routing["reason"] == "earliest_within_tolerance"
    outcomes = {alt["supplier_id"]: alt["outcome"] for alt in line.routing["alternatives"]}
    assert outcomes == {"initech": "chosen", "globex": "later"}
    # released in a day, three days' lead time, three days' transit
    assert line.promised_date == (NOW + timedelta(days=1 + 3 + 3)).date()
    assert line.routing["expected_delivery"] == str(line.promised_date)


def test_without_offers_the_products_own_supplier_takes_the_backorder() -> None:
    order = place([RequestedLine("TABLE", 2)], sourcing=Sourcing({}, {}))
    (event,) = created(order)
    assert (event.supplier_id, order.lines[0].routing) == ("globex", None)


def test_a_refused_po_moves_the_line_to_the_next_offer_under_a_new_id_keeping_its_money() -> None:
    order = placed()
    order.mark_on_purchase_order(1, "PO1", later(1))
    order.messages.clear()
    order.purchase_order_failed(1, "PO1", "SKU IN-9 is discontinued", later(1, hours=1), sourcing(), RULES)
    line = order.lines[0]
    assert (line.status, line.route_no, line.po_number, line.supplier_id) == (LineStatus.BACKORDERED, 1, None, "globex")
    assert line.tried_suppliers == ["initech", "globex"]
    (event,) = created(order)
    assert (event.backorder_line_id, event.supplier_id, event.quantity) == ("O1-1-r1", "globex", 2)
    assert line.backorder_line_id("O1") == "O1-1-r1"
    assert line.routing is not None and "discontinued" in line.routing["rerouted_because"]
    assert order.movements == []  # nothing released: the authorization stands for the new supplier
    # globex: its estimate is past, so the default wait (2 days), ten days of lead time, three of transit
    assert line.promised_date == (NOW + timedelta(days=1, hours=1) + timedelta(days=2 + 10 + 3)).date()
    (message,) = order.messages  # one message: the new date (even within the quick-ship window)
    assert message.kind == MessageKind.DATE_MOVED


def test_the_line_ships_from_its_second_supplier_and_is_paid_for_once() -> None:
    order = placed()
    order.purchase_order_failed(1, "PO1", "refused", later(1), sourcing(), RULES)
    order.mark_on_purchase_order(1, "PO2", later(2))
    assert order.record_shipment(1, shipment("S1", 2, days=5), RULES, later(5))
    assert money(order, MovementKind.CAPTURE) == Decimal("1000")
    assert money(order, MovementKind.RELEASE) == Decimal(0)
    assert order.lines[0].status == LineStatus.SHIPPED


def test_each_offer_is_tried_once_then_the_line_is_rejected() -> None:
    order = placed()
    order.purchase_order_failed(1, "PO1", "refused", later(1), sourcing(), RULES)
    order.mark_on_purchase_order(1, "PO2", later(2))
    order.purchase_order_failed(1, "PO2", "refused too", later(3), sourcing(), RULES)
    line = order.lines[0]
    assert (line.status, line.rejected_qty, line.route_no) == (LineStatus.REJECTED, 2, 1)
    assert money(order, MovementKind.RELEASE) == Decimal("1000")


def test_a_rejected_line_moves_on_and_a_same_date_is_not_told() -> None:
    same = Offer("initech-east", "IE-9", Decimal("220"), 3)
    order = placed(sourcing(INITECH, same))
    order.acknowledge(1, "PO1", "rejected", None, "no stock", RULES, later(0), sourcing=sourcing(INITECH, same))
    line = order.lines[0]
    assert (line.status, line.supplier_id, line.route_no) == (LineStatus.BACKORDERED, "initech-east", 1)
    assert order.messages == []  # the same date: nothing to tell


def test_a_line_backordered_beyond_its_promise_moves_to_a_sooner_offer_and_leaves_its_po() -> None:
    order = placed()
    order.mark_on_purchase_order(1, "PO1", later(1))
    promised = order.lines[0].promised_date
    assert promised is not None
    far = promised + timedelta(days=30)
    order.acknowledge(1, "PO1", "backordered", far, None, RULES, later(1, hours=2), sourcing=sourcing())
    line = order.lines[0]
    assert (line.status, line.supplier_id, line.backorder_line_id("O1")) == (
        LineStatus.BACKORDERED,
        "globex",
        "O1-1-r1",
    )
    (cancelled,) = [event for event in order.events if isinstance(event, BackorderCancelled)]
    assert (cancelled.backorder_line_id, cancelled.supplier_id, cancelled.reason) == ("O1-1", "initech", "rerouted")


def test_a_line_backordered_stays_when_no_other_offer_is_sooner() -> None:
    order = placed(sourcing(INITECH))
    order.mark_on_purchase_order(1, "PO1", later(1))
    promised = order.lines[0].promised_date
    assert promised is not None
    order.acknowledge(
        1, "PO1", "backordered", promised + timedelta(days=2), None, RULES, later(1), sourcing=sourcing(INITECH)
    )
    assert (order.lines[0].status, order.lines[0].route_no) == (LineStatus.BACKORDERED_AT_SUPPLIER, 0)


def test_a_refused_line_waits_for_an_operator_who_reroutes_or_rejects_it() -> None:
    manual = sourcing(automatic=False)
    order = placed(manual)
    order.purchase_order_failed(1, "PO1", "refused", later(1), manual, RULES)
    line = order.lines[0]
    assert (line.awaits_operator, line.status, line.route_no, created(order)) == (True, LineStatus.BACKORDERED, 1, [])
    order.reroute_by_operator(1, manual, RULES, later(2))
    (event,) = created(order)
    assert (event.backorder_line_id, event.supplier_id, line.awaits_operator) == ("O1-1-r1", "globex", False)
    with pytest.raises(OrderError):
        order.reroute_by_operator(1, manual, RULES, later(3))  # no longer waiting for an operator
    other = placed(manual)
    other.purchase_order_failed(1, "PO1", "refused", later(1), manual, RULES)
    other.reject_by_operator(1, "no supplier can take it", later(2))
    assert (other.lines[0].status, money(other, MovementKind.RELEASE)) == (LineStatus.REJECTED, Decimal("1000"))


def test_an_operator_may_send_a_line_back_to_a_supplier_it_tried() -> None:
    manual = sourcing(automatic=False)
    order = placed(manual)
    order.purchase_order_failed(1, "PO1", "refused", later(1), manual, RULES)
    order.reroute_by_operator(1, manual, RULES, later(2), supplier_id="initech")
    assert created(order)[0].supplier_id == "initech"


def test_a_line_the_customer_asked_to_cancel_is_not_moved() -> None:
    order = placed()
    order.mark_on_purchase_order(1, "PO1", later(1))
    order.cancel_line(1, later(1, hours=1))
    order.purchase_order_failed(1, "PO1", "refused", later(2), sourcing(), RULES)
    assert order.lines[0].status == LineStatus.REJECTED
    assert created(order) == []


@pytest.mark.parametrize(
    ("line_id", "parts"),
    [("O1-2", ("O1", 2, 0)), ("O1-2-r3", ("O1", 2, 3)), ("A-B-7", ("A-B", 7, 0))],
)
def test_backorder_line_ids_name_the_order_line_and_route(line_id: str, parts: tuple[str, int, int]) -> None:
    assert split_backorder_line_id(line_id) == parts


@pytest.mark.parametrize("line_id", ["O1", "O1-x", "-3", "O1-r2"])
def test_ids_of_other_systems_are_not_order_lines(line_id: str) -> None:
    with pytest.raises(ValueError):
        split_backorder_line_id(line_id)


def test_the_merchants_routing_setting_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTING_MODE", "cheapest_within_promise")
    monkeypatch.setenv("ROUTING_TOLERANCE_PERCENT", "5")
    monkeypatch.setenv("ROUTING_DELAY_COST_PER_LINE_DAY", "1.50")
    monkeypatch.setenv("REROUTE", "operator")
    setup = OrdersSettings().routing_setup()
    assert (setup.policy.mode, setup.policy.tolerance_percent, setup.policy.delay_cost_per_line_day) == (
        "cheapest_within_promise",
        Decimal("5"),
        Decimal("1.50"),
    )
    assert setup.automatic is False
    monkeypatch.setenv("REROUTE", "sometimes")
    with pytest.raises(ValueError):
        OrdersSettings()


def test_an_empty_delay_cost_in_the_environment_is_no_delay_cost(monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's default is "empty": `ROUTING_DELAY_COST_PER_LINE_DAY=` in an env file starts the service."""
    monkeypatch.setenv("ROUTING_DELAY_COST_PER_LINE_DAY", "")
    assert OrdersSettings().routing_setup().policy.delay_cost_per_line_day is None
    monkeypatch.setenv("ROUTING_DELAY_COST_PER_LINE_DAY", "-1")
    with pytest.raises(ValueError):
        OrdersSettings()


def test_an_older_aggregators_estimate_leaves_the_batch_standing_unknown() -> None:
    older = BatchReleaseExpected(supplier_id="acme", expected_release_at=NOW, backorder_line_ids=[])
    outlook = told_outlook(older.model_dump())
    assert (outlook.standing_known, outlook.completed_by(1_000, Decimal("1000"))) == (False, False)
    told = older.model_copy(
        update={"pending_units": 4, "pending_value": Decimal("40"), "min_units": 5, "min_value": Decimal(0)}
    )
    outlook = told_outlook(told.model_dump())
    assert (outlook.min_units, outlook.min_value, outlook.completed_by(1, Decimal("1"))) == (5, None, True)
