"""The HTTP/JSON supplier channel: POs, cancellations and the event feed through the one supplier client
(its retries, circuit breakers and rate limits are shared with the X12 transport)."""

from __future__ import annotations

from typing import Any

from supplier_gateway.adapters.http_supplier import HttpSupplierClient
from supplier_gateway.adapters.json_messages import UnreadableMessage, read_object
from supplier_gateway.adapters.supplier_answers import CancelVerdict
from supplier_gateway.domain.purchase_order import PurchaseOrder
from supplier_gateway.domain.supplier import Supplier
from supplier_gateway.service_layer.supplier_port import (
    CancellationAnswer,
    FeedEvent,
    FeedPage,
    Placement,
    SupplierUnreachable,
)


def purchase_order_body(po: PurchaseOrder) -> dict[str, Any]:
    """The PO as the generic supplier API takes it: the supplier's SKUs, a ship-to per line (drop-ship)."""
    return {
        "po_number": po.po_number,
        "currency": po.currency,
        "lines": [
            {
                "line_no": line.line_no,
                "sku": line.supplier_sku,
                "qty": line.orderable_qty,
                "unit_cost": str(line.unit_cost),
                "ship_to": line.ship_to.model_dump(mode="json", exclude_none=True),
                "customer_ref": line.customer_ref,
            }
            for line in po.lines_to_send
        ],
    }


def protected(client: HttpSupplierClient, supplier: Supplier) -> HttpSupplierClient:
    """The client, with the supplier's own rate limit and timeout from its registry entry."""
    client.protect(supplier.supplier_id, supplier.requests_per_second, supplier.timeout_seconds)
    return client


class HttpPurchaseOrderChannel:
    def __init__(self, client: HttpSupplierClient) -> None:
        self._client = client

    async def place(self, supplier: Supplier, po: PurchaseOrder) -> Placement:
        result = await protected(self._client, supplier).place_purchase_order(
            supplier.base_url, purchase_order_body(po), supplier_id=supplier.supplier_id
        )
        return Placement(result.supplier_order_id, result.replayed)

    async def cancel_line(
        self, supplier: Supplier, po_number: str, line_no: int, quantity: int, idempotency_key: str
    ) -> CancellationAnswer:
        result = await protected(self._client, supplier).cancel_purchase_order(
            supplier.base_url,
            po_number,
            [{"line_no": line_no, "qty": quantity}],
            supplier_id=supplier.supplier_id,
            idempotency_key=idempotency_key,
        )
        if result.outcome is CancelVerdict.UNKNOWN:
            raise SupplierUnreachable(f"the supplier's answer to the cancel request is unclear: {result.body!r}"[:500])
        return CancellationAnswer(result.accepted, result.reason)

    async def poll(self, supplier: Supplier, po_number: str, cursor: int) -> FeedPage:
        page = await protected(self._client, supplier).poll_events(
            supplier.base_url, po_number, cursor, supplier_id=supplier.supplier_id
        )
        events = []
        for event in page.events:
            try:
                events.append(FeedEvent(event.event_id, read_object(dict(event.body), event.type)))
            except UnreadableMessage as exc:
                raise SupplierUnreachable(f"unreadable event {event.event_id} in the feed: {exc} {exc.errors}") from exc
        return FeedPage(events, page.next_cursor)
