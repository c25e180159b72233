"""The HTTP/JSON supplier channel: POs, cancellations and the event feed through HttpSupplierClient,
one client per supplier so each has its own rate limit and circuit breaker."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from supplier_gateway.adapters.http_supplier import (
    HttpSupplierClient,
    HttpSupplierConfig,
    RetryPolicy,
    SupplierLimits,
    SupplierProtocolError,
    SupplierRejected,
    SupplierUnavailable,
)
from supplier_gateway.adapters.json_messages import UnreadableMessage, read_object
from supplier_gateway.adapters.supplier_answers import CancelVerdict
from supplier_gateway.domain.purchase_order import PurchaseOrder
from supplier_gateway.domain.supplier import Supplier
from supplier_gateway.service_layer.supplier_port import (
    CancellationAnswer,
    FeedEvent,
    FeedPage,
    Placement,
    SupplierRefused,
    SupplierUnreachable,
)


@dataclass(frozen=True)
class SupplierCallPolicy:
    """Timeouts, retries and protection of calls to suppliers (the gateway's settings fill it in)."""

    timeout_seconds: float = 10.0
    max_attempts: int = 5
    backoff_base_seconds: float = 0.5
    backoff_max_seconds: float = 30.0
    retry_after_cap_seconds: float = 60.0
    circuit_failure_threshold: int = 5
    circuit_reset_seconds: float = 30.0


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


class HttpPurchaseOrderChannel:
    def __init__(self, policy: SupplierCallPolicy, http: httpx.AsyncClient | None = None) -> None:
        self._policy = policy
        self._http = http or httpx.AsyncClient()
        self._clients: dict[str, tuple[tuple[float | None, float | None], HttpSupplierClient]] = {}

    async def aclose(self) -> None:
        await self._http.aclose()

    def client_for(self, supplier: Supplier) -> HttpSupplierClient:
        """The supplier's client, rebuilt when its registry entry changed its rate limit or timeout."""
        fingerprint = (supplier.requests_per_second, supplier.timeout_seconds)
        known = self._clients.get(supplier.supplier_id)
        if known is not None and known[0] == fingerprint:
            return known[1]
        policy = self._policy
        client = HttpSupplierClient(
            self._http,
            config=HttpSupplierConfig(
                timeout=supplier.timeout_seconds or policy.timeout_seconds,
                retry=RetryPolicy(
                    max_attempts=policy.max_attempts,
                    backoff_base=policy.backoff_base_seconds,
                    backoff_max=policy.backoff_max_seconds,
                    retry_after_cap=policy.retry_after_cap_seconds,
                ),
                limits=SupplierLimits(
                    requests_per_second=supplier.requests_per_second,
                    failure_threshold=policy.circuit_failure_threshold,
                    reset_timeout=policy.circuit_reset_seconds,
                ),
            ),
        )
        self._clients[supplier.supplier_id] = (fingerprint, client)
        return client

    async def place(self, supplier: Supplier, po: PurchaseOrder) -> Placement:
        client = self.client_for(supplier)
        try:
            result = await client.place_purchase_order(
                supplier.base_url, purchase_order_body(po), supplier_id=supplier.supplier_id
            )
        except SupplierRejected as exc:
            raise SupplierRefused(exc.reason) from exc
        except SupplierUnavailable as exc:
            raise SupplierUnreachable(str(exc), exc.retry_after) from exc
        except SupplierProtocolError as exc:
            raise SupplierUnreachable(str(exc)) from exc
        return Placement(result.supplier_order_id, result.replayed)

    async def cancel_line(
        self, supplier: Supplier, po_number: str, line_no: int, quantity: int, idempotency_key: str
    ) -> CancellationAnswer:
        client = self.client_for(supplier)
        try:
            result = await client.cancel_purchase_order(
                supplier.base_url,
                po_number,
                [{"line_no": line_no, "qty": quantity}],
                supplier_id=supplier.supplier_id,
                idempotency_key=idempotency_key,
            )
        except SupplierUnavailable as exc:
            raise SupplierUnreachable(str(exc), exc.retry_after) from exc
        if result.outcome is CancelVerdict.UNKNOWN:
            raise SupplierUnreachable(f"the supplier's answer to the cancel request is unclear: {result.body!r}"[:500])
        return CancellationAnswer(result.accepted, result.reason)

    async def poll(self, supplier: Supplier, po_number: str, cursor: int) -> FeedPage:
        client = self.client_for(supplier)
        try:
            page = await client.poll_events(supplier.base_url, po_number, cursor, supplier_id=supplier.supplier_id)
        except SupplierRejected as exc:
            raise SupplierRefused(exc.reason) from exc
        except (SupplierUnavailable, SupplierProtocolError) as exc:
            raise SupplierUnreachable(str(exc)) from exc
        events = []
        for event in page.events:
            try:
                events.append(FeedEvent(event.event_id, read_object(dict(event.body), event.type)))
            except UnreadableMessage as exc:
                raise SupplierUnreachable(f"unreadable event {event.event_id} in the feed: {exc} {exc.errors}") from exc
        return FeedPage(events, page.next_cursor)
