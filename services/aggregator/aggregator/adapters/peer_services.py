"""The console's window on the other services, through their public APIs (never their databases), with the
aggregator's own credential; the operator a change is made for is named in X-On-Behalf-Of."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from aggregator.adapters.service_token import ServiceCredentials
from dropship_shared.audit import ON_BEHALF_OF
from dropship_shared.logs import get_logger

log = get_logger(__name__)
ORDERS = "orders"
GATEWAY = "supplier-gateway"
Params = Mapping[str, Any]


class PeerUnavailable(Exception):
    """The service is not configured, or did not answer."""


class PeerRefused(Exception):
    """The service refused what we passed on from the operator (a filter it does not know): a 4xx to show them."""

    def __init__(self, service: str, status: int, detail: Any) -> None:
        super().__init__(f"{service} refused the request ({status}): {detail}")
        self.status = status
        self.detail = detail


class PeerServices:
    def __init__(
        self, orders_url: str, gateway_url: str, credentials: ServiceCredentials, timeout: float = 5.0
    ) -> None:
        self._urls = {ORDERS: orders_url.rstrip("/"), GATEWAY: gateway_url.rstrip("/")}
        self._credentials = credentials
        self._timeout = timeout
        self._client: httpx.AsyncClient | None = None

    def configured(self, service: str) -> bool:
        return bool(self._urls.get(service))

    async def read(self, service: str, path: str, params: Params | None = None, strict: bool = False) -> Any:
        """The JSON answer, or None when that service is not configured, not answering or refusing (the console
        still shows the rest). `strict`: its refusal of what the operator asked for (422) is raised instead."""
        try:
            response = await self.call(service, "GET", path, params=params)
            if strict and response.status_code == 422:
                raise PeerRefused(service, response.status_code, response.json().get("detail"))
            response.raise_for_status()
            return response.json()
        except (PeerUnavailable, httpx.HTTPError, ValueError) as exc:
            log.info("peer read failed", service=service, path=path, error=repr(exc))
            return None

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        params: Params | None = None,
        body: Any = None,
        on_behalf_of: str | None = None,
    ) -> httpx.Response:
        base = self._urls.get(service)
        if not base:
            raise PeerUnavailable(f"{service} is not configured")
        headers = await self._headers()
        if on_behalf_of:
            headers[ON_BEHALF_OF] = on_behalf_of
        try:
            return await self._http().request(method, base + path, params=params, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise PeerUnavailable(f"{service} did not answer: {exc!r}") from exc

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout)
        return self._client

    async def _headers(self) -> dict[str, str]:
        """Our credential; without one (the identity provider is away) the calls go out bare and are refused."""
        try:
            return dict(await self._credentials.headers())
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            log.warning("no token for the other services' APIs", error=repr(exc))
            return {}
