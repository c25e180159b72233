"""X12 over HTTP: POST a raw interchange to the supplier's EDI endpoint, signed like our callbacks,
retried on 5xx/429/timeouts; a 4xx is a refusal."""

from __future__ import annotations

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from dropship_shared.signing import sign
from supplier_gateway.adapters.http_channel import SupplierCallPolicy
from supplier_gateway.domain.supplier import Supplier
from supplier_gateway.service_layer.supplier_port import SupplierRefused, SupplierUnreachable

X12_CONTENT_TYPE = "application/edi-x12"


class _Transient(Exception):
    pass


class HttpDocumentChannel:
    def __init__(self, policy: SupplierCallPolicy, http: httpx.AsyncClient | None = None) -> None:
        self._policy = policy
        self._http = http or httpx.AsyncClient()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(self, supplier: Supplier, document: str) -> None:
        body = document.encode("utf-8")
        policy = self._policy
        retrying = AsyncRetrying(
            stop=stop_after_attempt(policy.max_attempts),
            wait=wait_exponential_jitter(multiplier=policy.backoff_base_seconds, max=policy.backoff_max_seconds),
            retry=retry_if_exception_type(_Transient),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    await self._post(supplier, body)
        except _Transient as exc:
            raise SupplierUnreachable(f"EDI endpoint of {supplier.supplier_id!r}: {exc}") from exc

    async def _post(self, supplier: Supplier, body: bytes) -> None:
        headers = {**sign(supplier.signing_secret, body), "Content-Type": X12_CONTENT_TYPE}
        try:
            response = await self._http.post(
                supplier.base_url,
                content=body,
                headers=headers,
                timeout=supplier.timeout_seconds or self._policy.timeout_seconds,
            )
        except httpx.TransportError as exc:
            raise _Transient(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500 or response.status_code in (408, 429):
            raise _Transient(f"HTTP {response.status_code}")
        if response.status_code >= 400:
            raise SupplierRefused(f"EDI endpoint refused the interchange: HTTP {response.status_code}")
