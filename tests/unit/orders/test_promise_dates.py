"""Promise dates: set at order time, recomputed by aggregator, supplier and shipments; delays told; slips consoled."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from orders_factories import NOW, RULES, day, later, place, shipment

from orders.adapters.message_templates import MessageTemplates
from orders.domain.effects import MessageKind
from orders.domain.model import Order, RequestedLine
from orders.domain.promise import PromiseRules, ReleaseEstimate, consolation_amount, deserves_delay_notice


def kinds(order: Order) -> list[MessageKind]:
    return [message.kind for message in order.messages]


def test_backordered_line_is_promised_release_plus_lead_time_plus_transit() -> None:
    order = place([RequestedLine("CHAIR", 5), RequestedLine("TABLE", 1)])  # 3 chairs in stock
    chair, table = order.lines
    # default batch wait 2 days + lead time (chair 5, table 10) + transit 3
    assert chair.promised_date == day(2 + 5 + 3)
    assert table.promised_date == day(2 + 10 + 3)
    placed = order.messages[0]
    assert placed.kind == MessageKind.BACKORDER_PLACED
    assert [line["promised_date"] for line in placed.context["lines"]] == [str(day(10)), str(day(15))]


def test_the_aggregators_known_release_estimate_is_used_at_order_time() -> None:
    order = place([RequestedLine("TABLE", 1)], release_estimates={"globex": ReleaseEstimate(NOW + timedelta(days=6))})
    assert order.lines[0].promised_date == day(6 + 10 + 3)


def test_an_empty_batchs_wait_counts_from_the_order() -> None:
    estimate = ReleaseEstimate(NOW - timedelta(days=5), first_line_wait=timedelta(days=20))
    order = place([RequestedLine("TABLE", 1)], release_estimates={"globex": estimate})
    assert order.lines[0].promised_date == day(20 + 10 + 3)


def test_a_line_in_stock_gets_no_promise_and_no_message() -> None:
    order = place([RequestedLine("CHAIR", 1)])
    assert order.lines[0].promised_date is None
    assert order.messages == []


def test_a_later_batch_release_moves_the_date_with_an_apology_and_keeps_the_history() -> None:
    order = place([RequestedLine("TABLE", 1)])
    order.messages.clear()
    order.expect_release(1, NOW + timedelta(days=4), RULES, later(0, 1, "batch.release_expected"))
    line = order.lines[0]
    assert [p.promised_date for p in line.promises] == [day(15), day(17)]
    assert [p.cause for p in line.promises] == ["order_placed", "batch.release_expected"]
    assert kinds(order) == [MessageKind.DATE_MOVED]
    assert order.messages[0].context["previous_date"] == str(day(15))
    assert order.messages[0].context["credit"] is None


def test_an_earlier_estimate_is_not_firm_it_moves_nothing_and_sends_nothing() -> None:
    order = place([RequestedLine("TABLE", 1)])
    order.messages.clear()
    order.expect_release(1, NOW + timedelta(days=1), RULES, later(0, 1))
    order.expect_release(1, NOW + timedelta(days=1), RULES, later(0, 2))
    assert order.lines[0].promised_date == day(15)
    assert len(order.lines[0].promises) == 1
    assert order.messages == []


def test_no_delay_notice_when_the_supplier_ships_within_the_quick_ship_window() -> None:
    assert not deserves_delay_notice(day(5), day(4), day(0), RULES)  # ships day 2: within 3 days
    assert deserves_delay_notice(day(9), day(4), day(0), RULES)  # ships day 6
    order = place([RequestedLine("CHAIR", 4)], products=None)  # 1 chair short: promised day 10
    order.messages.clear()
    order.mark_on_purchase_order(1, "PO1", later(2), RULES)  # released when expected: day 10 stands
    order.acknowledge(1, "PO1", "accepted", day(10), None, RULES, later(8))  # ships in 2 days: quiet
    assert order.lines[0].promised_date == day(13)
    assert order.messages == []


def test_supplier_backorder_date_moves_the_promise() -> None:
    order = place([RequestedLine("TABLE", 1)])
    order.messages.clear()
    order.mark_on_purchase_order(1, "PO1", later(2))
    order.acknowledge(1, "PO1", "backordered", day(16), None, RULES, later(3))
    assert order.lines[0].promised_date == day(19)
    assert kinds(order) == [MessageKind.DATE_MOVED]


def test_a_long_slip_earns_one_consolation_credit_mentioned_in_the_message() -> None:
    order = place([RequestedLine("TABLE", 2)])  # promised day 15, 2 x 500
    order.messages.clear()
    order.mark_on_purchase_order(1, "PO1", later(2))
    order.acknowledge(1, "PO1", "backordered", day(20), None, RULES, later(3))  # day 23: 8 days late
    assert order.lines[0].credit == Decimal("100.00")  # 10 % of 1000
    assert [c.amount for c in order.credits] == [Decimal("100.00")]
    assert order.messages[-1].context["credit"] == "100.00"
    order.acknowledge(1, "PO1", "backordered", day(30), None, RULES, later(4))
    assert len(order.credits) == 1  # once per line, however often it slips again
    assert order.messages[-1].context["credit"] is None


def test_a_slip_within_the_threshold_earns_nothing() -> None:
    order = place([RequestedLine("TABLE", 1)])
    order.acknowledge(1, "PO1", "backordered", day(19), None, RULES, later(3))  # day 22: 7 days late
    assert order.credits == [] and order.lines[0].credit is None


def test_the_full_shipment_sets_the_arrival_date_and_the_shipped_message_carries_tracking() -> None:
    order = place([RequestedLine("TABLE", 2)])
    order.messages.clear()
    order.record_shipment(1, shipment("S1", 1, days=5), RULES, later(5))
    assert order.lines[0].promised_date == day(15)  # a partial shipment does not move the line's date
    order.record_shipment(1, shipment("S2", 1, days=6), RULES, later(6))
    assert order.lines[0].promised_date == day(9)
    assert kinds(order) == [MessageKind.SHIPPED, MessageKind.SHIPPED]
    first, second = order.messages
    assert (first.context["carrier"], first.context["tracking_number"], first.context["remaining"]) == (
        "UPS",
        "1ZS1",
        1,
    )
    assert second.context["remaining"] == 0


def test_consolation_rounds_to_cents() -> None:
    rules = PromiseRules(consolation_percent=Decimal("7.5"))
    assert consolation_amount(3, Decimal("19.99"), rules) == Decimal("4.50")


def test_an_escalated_batch_tells_waiting_customers_once_and_not_the_others() -> None:
    order = place([RequestedLine("TABLE", 2), RequestedLine("CHAIR", 1)])
    order.messages.clear()
    order.batch_escalated(1, NOW)
    order.batch_escalated(2, NOW)  # served from stock: nothing to say
    [message] = order.messages
    assert (message.kind, message.line_no, message.key) == (
        MessageKind.WAIT_EXTENDED,
        1,
        f"O1:1:wait_extended:{NOW.isoformat()}",
    )
    rendered = MessageTemplates("Shop").render(message.kind, {"order_id": "O1", **message.context})
    assert "TABLE" in rendered.subject and "cancel the item at no cost" in rendered.body


def test_a_later_estimate_within_the_tolerance_moves_nothing() -> None:
    order = place([RequestedLine("TABLE", 1)])  # day 15
    order.messages.clear()
    order.expect_release(1, NOW + timedelta(days=3), RULES, later(0, 1))  # day 16: within 1 day
    assert (order.lines[0].promised_date, order.messages) == (day(15), [])


def test_an_estimate_that_swings_is_told_once_and_its_improvement_waits_for_firm_news() -> None:
    order = place([RequestedLine("TABLE", 1)])  # day 15
    order.messages.clear()
    order.expect_release(1, NOW + timedelta(days=9), RULES, later(0, 1))  # day 22: later, told
    order.expect_release(1, NOW + timedelta(days=6), RULES, later(0, 2))  # day 19: only an estimate
    assert order.lines[0].promised_date == day(22)
    assert kinds(order) == [MessageKind.DATE_MOVED]
    order.mark_on_purchase_order(1, "PO1", later(1), RULES)  # released: day 14, firm
    assert order.lines[0].promised_date == day(14)
    assert kinds(order) == [MessageKind.DATE_MOVED, MessageKind.DATE_IMPROVED]
    good_news = order.messages[-1]
    assert (good_news.context["previous_date"], good_news.context["promised_date"]) == (str(day(22)), str(day(14)))
    rendered = MessageTemplates("Shop").render(good_news.kind, {"order_id": "O1", **good_news.context})
    assert "Good news" in rendered.body and str(day(14)) in rendered.subject


def test_each_move_has_its_own_message_even_back_to_an_earlier_date() -> None:
    order = place([RequestedLine("TABLE", 1)])  # day 15
    order.messages.clear()
    order.mark_on_purchase_order(1, "PO1", later(0), RULES)  # day 13
    order.acknowledge(1, "PO1", "backordered", day(16), None, RULES, later(1))  # day 19
    order.acknowledge(1, "PO1", "accepted", day(10), None, RULES, later(2))  # day 13 again
    order.acknowledge(1, "PO1", "backordered", day(16), None, RULES, later(3))  # day 19 again
    assert [p.promised_date for p in order.lines[0].promises] == [day(15), day(13), day(19), day(13), day(19)]
    assert len({message.key for message in order.messages}) == len(order.messages) == 4


def test_the_credit_is_against_the_first_promise_not_the_last() -> None:
    order = place([RequestedLine("TABLE", 1)])  # day 15
    order.messages.clear()
    order.mark_on_purchase_order(1, "PO1", later(0), RULES)  # day 13: good news
    order.acknowledge(1, "PO1", "backordered", day(18), None, RULES, later(1))  # day 21: 8 after 13, 6 after 15
    assert order.credits == [] and order.lines[0].credit is None
    order.acknowledge(1, "PO1", "backordered", day(20), None, RULES, later(2))  # day 23: 8 after the first
    assert [c.amount for c in order.credits] == [Decimal("50.00")]
