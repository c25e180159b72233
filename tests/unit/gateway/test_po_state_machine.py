"""The purchase order's state machine: placement, acknowledgement, shipments, cancellation, out-of-order news."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from dropship_shared.events import (
    Address,
    LineCancellationResolved,
    PurchaseOrderAcknowledged,
    PurchaseOrderCancelled,
    PurchaseOrderFailed,
    PurchaseOrderLine,
    PurchaseOrderPlaced,
    PurchaseOrderRequested,
    ShipmentUpdated,
)
from supplier_gateway.domain.purchase_order import (
    InvalidTransition,
    LineStatus,
    NothingApplied,
    PurchaseOrder,
    PurchaseOrderState,
    UnknownLine,
)
from supplier_gateway.domain.supplier_exception import ExceptionKind
from supplier_gateway.domain.supplier_messages import (
    AcknowledgedLineStatus,
    Acknowledgement,
    AcknowledgementStatus,
    LineAcknowledgement,
    Package,
    PackedLine,
    ShipmentNotice,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
ADDRESS = Address(name="Ann", address_lines=["1 Main St"], city="Springfield", postal_code="12345", country="US")


def requested(*quantities: int) -> PurchaseOrder:
    return PurchaseOrder.request(
        PurchaseOrderRequested(
            po_number="PO-1",
            supplier_id="acme",
            currency="USD",
            release_reason="minimum_reached",
            lines=[
                PurchaseOrderLine(
                    line_no=number,
                    backorder_line_id=f"O{number}-1",
                    sku=f"SKU-{number}",
                    supplier_sku=f"A-{number}",
                    quantity=quantity,
                    unit_cost=Decimal("2.50"),
                    ship_to=ADDRESS,
                    customer_ref=f"O{number}/1",
                )
                for number, quantity in enumerate(quantities, start=1)
            ],
        ),
        NOW,
    )


def sent(*quantities: int) -> PurchaseOrder:
    po = requested(*quantities)
    po.mark_placed("SO-1", NOW)
    po.events.clear()
    return po


def shipment(shipment_id: str, *packages: list[tuple[int, int]]) -> ShipmentNotice:
    return ShipmentNotice(
        shipment_id=shipment_id,
        po_number="PO-1",
        shipped_at=NOW,
        carrier_name="UPS",
        carrier_scac="UPSN",
        packages=[
            Package(tracking_number=f"1Z{shipment_id}{n}", lines=[PackedLine(line, qty) for line, qty in contents])
            for n, contents in enumerate(packages)
        ],
    )


def ack(status: AcknowledgementStatus, *lines: LineAcknowledgement) -> Acknowledgement:
    return Acknowledgement(po_number="PO-1", status=status, lines=list(lines))


def test_a_requested_po_keeps_the_backorder_line_of_each_line() -> None:
    po = requested(3, 2)
    assert po.state is PurchaseOrderState.REQUESTED
    assert [line.backorder_line_id for line in po.lines] == ["O1-1", "O2-1"]
    assert [change.state for change in po.history] == [PurchaseOrderState.REQUESTED]


def test_placing_moves_to_sent_and_announces_it_once() -> None:
    po = requested(3)
    assert po.mark_placed("SO-1", NOW) is True
    assert po.state is PurchaseOrderState.SENT
    assert po.events == [
        PurchaseOrderPlaced(po_number="PO-1", supplier_id="acme", supplier_order_id="SO-1", backorder_line_ids=["O1-1"])
    ]
    assert po.mark_placed("SO-1", NOW) is False  # a re-send after a crash: no second event
    assert len(po.events) == 1


def test_a_refused_po_fails_and_tells_the_orders_service() -> None:
    po = requested(3)
    po.fail("sku_not_orderable", NOW)
    assert po.state is PurchaseOrderState.FAILED
    assert po.events == [
        PurchaseOrderFailed(
            po_number="PO-1", supplier_id="acme", reason="sku_not_orderable", backorder_line_ids=["O1-1"]
        )
    ]
    with pytest.raises(InvalidTransition):
        po.mark_placed("SO-1", NOW)


def test_a_sent_po_refused_by_the_partner_fails_but_an_acknowledged_one_cannot() -> None:
    po = sent(3)
    po.fail("negative 997", NOW)
    assert po.state is PurchaseOrderState.FAILED
    acknowledged = sent(3)
    acknowledged.acknowledge(
        ack(AcknowledgementStatus.ACCEPTED, LineAcknowledgement(1, AcknowledgedLineStatus.ACCEPTED, 3)), NOW
    )
    with pytest.raises(InvalidTransition):
        acknowledged.fail("too late", NOW)


def test_only_failed_pos_are_retried() -> None:
    po = requested(3)
    with pytest.raises(InvalidTransition):
        po.retry(NOW)
    po.fail("down", NOW)
    po.retry(NOW)
    assert po.state is PurchaseOrderState.REQUESTED
    assert po.failure_reason is None


def test_acknowledgement_records_line_status_dates_and_rejections() -> None:
    po = sent(3, 2, 4)
    po.acknowledge(
        ack(
            AcknowledgementStatus.PARTIAL,
            LineAcknowledgement(1, AcknowledgedLineStatus.ACCEPTED, 3),
            LineAcknowledgement(2, AcknowledgedLineStatus.BACKORDERED, 2, date(2026, 12, 24)),
            LineAcknowledgement(3, AcknowledgedLineStatus.REJECTED, 4, reason="discontinued"),
        ),
        NOW,
    )
    assert po.state is PurchaseOrderState.ACKNOWLEDGED
    assert po.acknowledgement == "partial"
    assert [line.status for line in po.lines] == [LineStatus.ACCEPTED, LineStatus.BACKORDERED, LineStatus.REJECTED]
    assert po.lines[1].expected_ship_date == date(2026, 12, 24)
    (event,) = po.events
    assert isinstance(event, PurchaseOrderAcknowledged)
    assert [(line.backorder_line_id, line.status) for line in event.lines] == [
        ("O1-1", "accepted"),
        ("O2-1", "backordered"),
        ("O3-1", "rejected"),
    ]
    assert event.lines[2].reason == "discontinued"


def test_a_fully_rejected_po_closes() -> None:
    po = sent(3)
    po.acknowledge(ack(AcknowledgementStatus.REJECTED, LineAcknowledgement(1, AcknowledgedLineStatus.REJECTED, 3)), NOW)
    assert po.state is PurchaseOrderState.CLOSED
    assert po.acknowledgement == "rejected"


def test_an_acknowledgement_before_our_record_of_sending_implies_placement() -> None:
    po = requested(3)
    po.acknowledge(ack(AcknowledgementStatus.ACCEPTED, LineAcknowledgement(1, AcknowledgedLineStatus.ACCEPTED, 3)), NOW)
    assert po.state is PurchaseOrderState.ACKNOWLEDGED
    assert [type(event) for event in po.events] == [PurchaseOrderPlaced, PurchaseOrderAcknowledged]
    po.events.clear()
    assert po.mark_placed("SO-9", NOW) is False  # the dispatcher's late record changes nothing but the id
    assert po.supplier_order_id == "SO-9"
    assert po.events == []


def test_a_message_naming_only_unknown_lines_changes_nothing() -> None:
    po = sent(3)
    with pytest.raises(NothingApplied) as refused_ack:
        po.acknowledge(
            ack(AcknowledgementStatus.ACCEPTED, LineAcknowledgement(7, AcknowledgedLineStatus.ACCEPTED, 3)), NOW
        )
    with pytest.raises(NothingApplied) as refused_shipment:
        po.record_shipment(shipment("S1", [(7, 1)]), NOW)
    assert [a.kind for a in refused_ack.value.anomalies + refused_shipment.value.anomalies] == [
        ExceptionKind.UNKNOWN_LINE,
        ExceptionKind.UNKNOWN_LINE,
    ]
    assert po.state is PurchaseOrderState.SENT
    assert po.events == [] and po.anomalies == []


def test_valid_lines_apply_and_bad_lines_become_anomalies() -> None:
    po = sent(3, 2)
    assert po.record_shipment(shipment("S1", [(1, 2), (7, 1)], [(2, 5)]), NOW) is True
    assert [line.shipped_qty for line in po.lines] == [2, 0]
    (event,) = [e for e in po.events if isinstance(e, ShipmentUpdated)]
    assert [(line.line_no, line.quantity) for line in event.lines] == [(1, 2)]
    assert [(a.kind, a.line_no) for a in po.anomalies] == [
        (ExceptionKind.UNKNOWN_LINE, None),
        (ExceptionKind.OVER_SHIPMENT, 2),
    ]
    assert po.anomalies[1].backorder_line_id == "O2-1"
    po.anomalies.clear()
    po.acknowledge(
        ack(
            AcknowledgementStatus.PARTIAL,
            LineAcknowledgement(2, AcknowledgedLineStatus.ACCEPTED, 2),
            LineAcknowledgement(9, AcknowledgedLineStatus.ACCEPTED, 1),
        ),
        NOW,
    )
    assert po.lines[1].status is LineStatus.ACCEPTED
    assert [a.kind for a in po.anomalies] == [ExceptionKind.UNKNOWN_LINE]


def test_an_acceptance_of_part_of_a_line_rejects_the_rest() -> None:
    po = sent(5)
    po.acknowledge(
        ack(AcknowledgementStatus.PARTIAL, LineAcknowledgement(1, AcknowledgedLineStatus.ACCEPTED, 3, reason="short")),
        NOW,
    )
    assert (po.lines[0].accepted_qty, po.lines[0].rejected_qty, po.lines[0].open_qty) == (3, 2, 3)
    (acknowledged,) = [e for e in po.events if isinstance(e, PurchaseOrderAcknowledged)]
    assert acknowledged.lines[0].rejected_quantity == 2
    po.record_shipment(shipment("S1", [(1, 3)]), NOW)
    assert po.state is PurchaseOrderState.SHIPPED


def test_partial_then_complete_shipments() -> None:
    po = sent(3, 2)
    assert po.record_shipment(shipment("S1", [(1, 1)]), NOW) is True
    assert po.state is PurchaseOrderState.PARTIALLY_SHIPPED
    assert po.lines[0].status is LineStatus.PARTIALLY_SHIPPED
    assert po.record_shipment(shipment("S2", [(1, 2)], [(2, 2)]), NOW) is True
    assert po.state is PurchaseOrderState.SHIPPED
    assert [line.status for line in po.lines] == [LineStatus.SHIPPED, LineStatus.SHIPPED]
    events = [event for event in po.events if isinstance(event, ShipmentUpdated)]
    assert [(e.shipment_id, e.tracking_number, e.lines[0].backorder_line_id) for e in events] == [
        ("S1", "1ZS10", "O1-1"),
        ("S2/1", "1ZS20", "O1-1"),  # one event per package, each with its own id for the orders service
        ("S2/2", "1ZS21", "O2-1"),
    ]


def test_a_duplicate_shipment_notice_is_a_no_op() -> None:
    po = sent(3)
    assert po.record_shipment(shipment("S1", [(1, 1)]), NOW) is True
    po.events.clear()
    assert po.record_shipment(shipment("S1", [(1, 1)]), NOW) is False
    assert po.lines[0].shipped_qty == 1
    assert po.events == []


def test_a_shipment_before_the_acknowledgement_is_kept_and_the_late_ack_does_not_regress() -> None:
    po = sent(2)
    po.record_shipment(shipment("S1", [(1, 2)]), NOW)
    assert po.state is PurchaseOrderState.SHIPPED
    po.acknowledge(ack(AcknowledgementStatus.ACCEPTED, LineAcknowledgement(1, AcknowledgedLineStatus.ACCEPTED, 2)), NOW)
    assert po.state is PurchaseOrderState.SHIPPED
    assert po.lines[0].status is LineStatus.SHIPPED


def test_more_shipped_than_ordered_is_refused() -> None:
    po = sent(2)
    with pytest.raises(NothingApplied) as refused:
        po.record_shipment(shipment("S1", [(1, 3)]), NOW)
    assert [a.kind for a in refused.value.anomalies] == [ExceptionKind.OVER_SHIPMENT]
    assert po.lines[0].shipped_qty == 0
    assert po.record_shipment(shipment("S1", [(1, 2)]), NOW) is True  # the corrected notice is applied


def test_a_shipment_wins_over_a_cancellation_we_believed_in() -> None:
    po = sent(2, 3)
    po.cancel_line("O1-1", 2, NOW)
    po.cancel_line("O2-1", 3, NOW)
    assert po.state is PurchaseOrderState.CANCELLED
    po.events.clear()
    assert po.record_shipment(shipment("S1", [(1, 2)]), NOW) is True
    assert (po.lines[0].shipped_qty, po.lines[0].cancelled_qty, po.lines[0].status) == (2, 0, LineStatus.SHIPPED)
    assert po.state is PurchaseOrderState.SHIPPED
    assert [type(e) for e in po.events] == [ShipmentUpdated]
    assert [(a.kind, a.line_no) for a in po.anomalies] == [(ExceptionKind.SHIPPED_AFTER_CANCEL, 1)]


def test_shipping_a_rejected_line_after_all_counts_the_goods() -> None:
    po = sent(2)
    po.acknowledge(ack(AcknowledgementStatus.REJECTED, LineAcknowledgement(1, AcknowledgedLineStatus.REJECTED, 2)), NOW)
    assert po.state is PurchaseOrderState.CLOSED
    po.record_shipment(shipment("S1", [(1, 2)]), NOW)
    assert po.state is PurchaseOrderState.SHIPPED
    assert po.lines[0].rejected_qty == 0


def test_failed_or_cancelled_pos_take_no_supplier_news() -> None:
    po = requested(2)
    po.fail("bad", NOW)
    with pytest.raises(InvalidTransition):
        po.record_shipment(shipment("S1", [(1, 1)]), NOW)
    with pytest.raises(InvalidTransition):
        po.acknowledge(ack(AcknowledgementStatus.ACCEPTED), NOW)


def test_cancelling_before_sending_leaves_the_line_off_the_po() -> None:
    po = requested(2, 3)
    po.cancel_line("O1-1", 2, NOW)
    assert [line.line_no for line in po.lines_to_send] == [2]
    assert po.lines[0].status is LineStatus.CANCELLED
    assert po.state is PurchaseOrderState.REQUESTED
    assert po.events == [
        LineCancellationResolved(po_number="PO-1", supplier_id="acme", backorder_line_id="O1-1", outcome="cancelled")
    ]
    po.cancel_line("O2-1", 3, NOW)
    assert po.state is PurchaseOrderState.CANCELLED


def test_cancelling_at_the_supplier_and_already_shipped_refusals() -> None:
    po = sent(2, 3)
    po.record_shipment(shipment("S1", [(2, 3)]), NOW)
    po.events.clear()
    po.refuse_line_cancellation("O2-1", "Order has shipped")
    po.cancel_line("O1-1", 2, NOW)
    assert [(e.outcome, e.reason) for e in po.events if isinstance(e, LineCancellationResolved)] == [
        ("refused", "Order has shipped"),
        ("cancelled", None),
    ]
    assert [(a.kind, a.line_no) for a in po.anomalies] == [(ExceptionKind.CANCEL_REFUSED, 2)]
    assert po.state is PurchaseOrderState.SHIPPED  # what was left shipped; the rest was cancelled
    with pytest.raises(UnknownLine):
        po.cancel_line("O9-9", 1, NOW)


def test_the_history_records_each_state_once() -> None:
    po = sent(2)
    po.acknowledge(ack(AcknowledgementStatus.ACCEPTED, LineAcknowledgement(1, AcknowledgedLineStatus.ACCEPTED, 2)), NOW)
    po.record_shipment(shipment("S1", [(1, 1)]), NOW)
    po.record_shipment(shipment("S2", [(1, 1)]), NOW)
    assert [change.state for change in po.history] == [
        PurchaseOrderState.REQUESTED,
        PurchaseOrderState.SENT,
        PurchaseOrderState.ACKNOWLEDGED,
        PurchaseOrderState.PARTIALLY_SHIPPED,
        PurchaseOrderState.SHIPPED,
    ]


def test_a_line_past_its_acknowledged_ship_date_and_the_grace_is_late() -> None:
    po = sent(3, 2)
    po.acknowledge(
        ack(
            AcknowledgementStatus.ACCEPTED,
            LineAcknowledgement(1, AcknowledgedLineStatus.ACCEPTED, 3, expected_ship_date=date(2026, 12, 1)),
            LineAcknowledgement(2, AcknowledgedLineStatus.BACKORDERED, 2, expected_ship_date=date(2026, 12, 20)),
        ),
        NOW,
    )
    assert po.late_lines(date(2026, 12, 3), grace_days=2) == []  # the grace still runs
    (late,) = po.late_lines(date(2026, 12, 4), grace_days=2)
    anomaly, event = po.lateness(late, date(2026, 12, 4), grace_days=2)
    assert (anomaly.kind, anomaly.line_no, anomaly.backorder_line_id) == (ExceptionKind.LATE_SHIPMENT, 1, "O1-1")
    assert (event.expected_ship_date, event.assumed_ship_date) == (date(2026, 12, 1), date(2026, 12, 6))
    po.record_shipment(shipment("S1", [(1, 3)]), NOW)
    assert po.late_lines(date(2026, 12, 30), grace_days=2) == [po.lines[1]]  # shipped lines are never late


def test_a_whole_po_rejected_without_naming_a_line_rejects_every_line_in_the_suppliers_words() -> None:
    po = sent(2, 3)
    po.acknowledge(Acknowledgement("PO-1", AcknowledgementStatus.REJECTED, reason="account on credit hold"), NOW)
    assert [(line.status, line.rejected_qty, line.reason) for line in po.lines] == [
        (LineStatus.REJECTED, 2, "account on credit hold"),
        (LineStatus.REJECTED, 3, "account on credit hold"),
    ]
    assert po.state is PurchaseOrderState.CLOSED
    (event,) = po.events
    assert isinstance(event, PurchaseOrderAcknowledged)
    assert [(line.status, line.reason) for line in event.lines] == [("rejected", "account on credit hold")] * 2
    po = sent(1)
    po.acknowledge(ack(AcknowledgementStatus.REJECTED), NOW)
    assert po.lines[0].reason == "the supplier rejected the purchase order"
    po = sent(1)
    po.acknowledge(ack(AcknowledgementStatus.ACCEPTED), NOW)  # an acceptance naming no line changes no line
    assert po.lines[0].status is LineStatus.ORDERED


def test_operations_cancel_a_po_not_yet_placed_and_the_orders_service_hears_which_lines() -> None:
    po = requested(2, 3)
    po.cancel_line("O1-1", 2, NOW)  # the customer cancelled this one already
    po.events.clear()
    po.cancel_unsent("supplier closed for good", NOW)
    assert po.state is PurchaseOrderState.CANCELLED
    assert po.lines_to_send == [] and all(line.status is LineStatus.CANCELLED for line in po.lines)
    assert po.history[-1].note == "cancelled by operations: supplier closed for good"
    assert po.events == [
        PurchaseOrderCancelled(
            po_number="PO-1", supplier_id="acme", reason="supplier closed for good", backorder_line_ids=["O2-1"]
        )
    ]
    with pytest.raises(InvalidTransition):
        po.cancel_unsent("again", NOW)
    with pytest.raises(InvalidTransition):
        po.retry(NOW)
    po.events.clear()
    po.cancel_line("O2-1", 3, NOW)  # a customer cancel arriving now is simply done
    assert [(e.backorder_line_id, e.outcome) for e in po.events] == [("O2-1", "cancelled")]
    with pytest.raises(InvalidTransition):
        sent(1).cancel_unsent("too late", NOW)


def test_a_shipment_for_a_po_we_cancelled_before_it_left_still_ships() -> None:
    po = requested(2)
    po.cancel_unsent("supplier closed", NOW)  # an earlier attempt had reached the supplier after all
    po.record_shipment(shipment("S1", [(1, 2)]), NOW)
    assert (po.lines[0].shipped_qty, po.lines[0].cancelled_qty, po.state) == (2, 0, PurchaseOrderState.SHIPPED)
    assert [a.kind for a in po.anomalies] == [ExceptionKind.SHIPPED_AFTER_CANCEL]
