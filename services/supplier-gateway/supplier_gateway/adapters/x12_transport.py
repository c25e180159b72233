"""X12 over HTTP: POST a raw interchange to the supplier's EDI endpoint, signed like our callbacks, through
the one supplier client (same retries, circuit breaker and rate limit as the JSON API); a 4xx is a refusal."""

from __future__ import annotations

from dropship_shared.signing import sign
from supplier_gateway.adapters.http_channel import protected
from supplier_gateway.adapters.http_supplier import HttpSupplierClient
from supplier_gateway.domain.supplier import Supplier

X12_CONTENT_TYPE = "application/edi-x12"


class HttpDocumentChannel:
    def __init__(self, client: HttpSupplierClient) -> None:
        self._client = client

    async def send(self, supplier: Supplier, document: str, url: str | None = None) -> None:
        body = document.encode("utf-8")
        headers = {**sign(supplier.signing_secret, body), "Content-Type": X12_CONTENT_TYPE}
        await protected(self._client, supplier).post_document(
            url or supplier.base_url, body, headers, supplier_id=supplier.supplier_id
        )
