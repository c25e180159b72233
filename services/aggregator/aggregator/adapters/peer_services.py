"""The dashboard's window on the other services, through their public APIs (never their databases)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from aggregator.adapters.service_token import ServiceCredentials
from dropship_shared.logs import get_logger

log = get_logger(__name__)


class PeerServices:
    """Reads what the operations dashboard shows besides batches: failed POs, dead letters, backorder figures."""

    def __init__(
        self, orders_url: str, gateway_url: str, credentials: ServiceCredentials, timeout: float = 5.0
    ) -> None:
        self._orders_url = orders_url.rstrip("/")
        self._gateway_url = gateway_url.rstrip("/")
        self._credentials = credentials
        self._timeout = timeout

    async def overview(self) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=self._timeout, headers=await self._headers()) as client:
            failed, waiting, figures, orders_dead, gateway_dead = await asyncio.gather(
                self._get(client, self._gateway_url, "/purchase-orders", {"state": "failed", "limit": 50}),
                self._get(client, self._gateway_url, "/purchase-orders", {"state": "requested", "limit": 200}),
                self._get(client, self._orders_url, "/metrics/backorders", {"group_by": "supplier"}),
                self._get(client, self._orders_url, "/admin/dead-letters", {"limit": 100}),
                self._get(client, self._gateway_url, "/admin/dead-letters", {"limit": 100}),
            )
        return {
            "failed_purchase_orders": [
                {
                    "po_number": po["po_number"],
                    "supplier_id": po["supplier_id"],
                    "failure_reason": po.get("failure_reason"),
                    "created_at": po["created_at"],
                }
                for po in failed or []
            ],
            "purchase_orders_waiting_for_supplier": len(waiting) if waiting is not None else None,
            "backorders_by_supplier": (figures or {}).get("groups"),
            "dead_letters": {
                "orders": _count(orders_dead),
                "supplier-gateway": _count(gateway_dead),
            },
            "unreachable": [
                name
                for name, url, answer in (
                    ("supplier-gateway", self._gateway_url, failed),
                    ("orders", self._orders_url, figures),
                )
                if url and answer is None
            ],
        }

    async def retry_purchase_order(self, po_number: str) -> httpx.Response:
        async with httpx.AsyncClient(timeout=self._timeout, headers=await self._headers()) as client:
            return await client.post(f"{self._gateway_url}/purchase-orders/{po_number}/retry")

    async def _headers(self) -> dict[str, str]:
        """Our credential; without one (the identity provider is away) the calls go out bare and are refused."""
        try:
            return await self._credentials.headers()
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            log.warning("no token for the other services' APIs", error=repr(exc))
            return {}

    async def _get(self, client: httpx.AsyncClient, base: str, path: str, params: dict[str, Any]) -> Any:
        """The JSON answer, or None when that service is not configured or not answering (the page still shows)."""
        if not base:
            return None
        try:
            response = await client.get(base + path, params=params)
            response.raise_for_status()
            return response.json()
        except (httpx.HTTPError, ValueError):
            return None


def _count(answer: Any) -> int | None:
    return len(answer["messages"]) if isinstance(answer, dict) and "messages" in answer else None
