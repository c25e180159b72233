"""A supplier double written from docs/supplier-protocols.md, not from our simulator: it answers in the
shapes real drop-ship APIs use (RFC 9457 problem details, `errors[]`, plain text, other wordings of
"already shipped"), and sends signed acknowledgements and shipment notices with the optional fields and
unknown extras the document allows. Each supplier id served under `/{supplier_id}` follows its own script."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response

from dropship_shared.signing import sign
from support.servers import run_uvicorn_app


@dataclass(frozen=True)
class Answer:
    """One scripted HTTP answer; a JSON body unless `text` is given."""

    status: int
    body: Any = None
    text: str | None = None
    content_type: str = "application/json"
    delay_seconds: float = 0.0

    def response(self) -> Response:
        if self.text is not None:
            return Response(self.text, self.status, media_type=self.content_type)
        if self.body is None:
            return Response(status_code=self.status)
        return Response(json.dumps(self.body), self.status, media_type=self.content_type)


# Refusals in the shapes real APIs give them (none of them is what our simulator says).
PROBLEM_DETAILS = Answer(
    422,
    {
        "type": "https://supplier.example/problems/discontinued",
        "title": "Unprocessable purchase order",
        "status": 422,
        "detail": "Item GX-9 was discontinued on 2026-10-01",
    },
    content_type="application/problem+json",
)
ERRORS_LIST = Answer(400, {"errors": [{"field": "lines[0].qty", "message": "exceeds the order limit of 50"}]})
SERVICE_DOWN = Answer(503, {"detail": "Scheduled maintenance until 06:00 UTC"}, content_type="application/problem+json")
TEXT_REFUSAL = Answer(403, text="Account on credit hold - call accounts receivable", content_type="text/plain")
CANCEL_REFUSALS = {
    "409 already shipped": Answer(409, {"status": "rejected", "reason": "already shipped"}),
    "422 Order has shipped": Answer(422, {"message": "Order has shipped"}),
    "200 declined": Answer(200, {"status": "declined", "note": "picked and packed"}),
    "400 text": Answer(400, text="Too late to cancel: in transit", content_type="text/plain"),
}
CANCEL_ACCEPTED = Answer(200, {"status": "cancelled", "cancelled_at": "2026-11-29T10:00:00Z"})
CANCEL_UNREADABLE = Answer(200, text="<html><body>Bad gateway (cached)</body></html>", content_type="text/html")


@dataclass
class SupplierScript:
    """What one supplier answers: queued answers first, then the default. Placement accepts by default."""

    placements: list[Answer] = field(default_factory=list)
    cancels: list[Answer] = field(default_factory=list)
    cancel_default: Answer = CANCEL_ACCEPTED
    received: dict[str, dict[str, Any]] = field(default_factory=dict)  # po_number -> the first body
    placement_calls: int = 0
    cancel_calls: list[dict[str, Any]] = field(default_factory=list)


class AdversarialSupplier:
    """The double's app and the client side (signed callbacks to the gateway)."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.scripts: dict[str, SupplierScript] = {}
        self.app = FastAPI()
        self.app.post("/{supplier_id}/purchase-orders")(self._place)
        self.app.post("/{supplier_id}/purchase-orders/{po_number}/cancel")(self._cancel)

    def script(self, supplier_id: str) -> SupplierScript:
        return self.scripts.setdefault(supplier_id, SupplierScript())

    async def _place(self, supplier_id: str, request: Request) -> Response:
        script = self.script(supplier_id)
        script.placement_calls += 1
        body = json.loads(await request.body())
        key = request.headers.get("Idempotency-Key", "")
        if key in script.received:  # a repeat of the same key: the first answer
            return Answer(200, {"supplier_order_id": f"SO-{key}", "status": "received"}).response()
        answer = script.placements.pop(0) if script.placements else None
        if answer is None or answer.status < 300:
            script.received[key] = body
            answer = answer or Answer(201, {"supplier_order_id": f"SO-{key}", "status": "received", "eta": None})
        await asyncio.sleep(answer.delay_seconds)
        return answer.response()

    async def _cancel(self, supplier_id: str, po_number: str, request: Request) -> Response:
        script = self.script(supplier_id)
        script.cancel_calls.append({"po_number": po_number, **json.loads(await request.body() or b"{}")})
        answer = script.cancels.pop(0) if script.cancels else script.cancel_default
        await asyncio.sleep(answer.delay_seconds)
        return answer.response()

    # -- what the supplier sends us --------------------------------------------------------
    async def post_signed(
        self, gateway_url: str, supplier_id: str, kind: str, body: dict[str, Any] | bytes
    ) -> httpx.Response:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {**sign(self.secret, raw, event_id=f"evt-{uuid.uuid4()}"), "Content-Type": "application/json"}
        async with httpx.AsyncClient(timeout=30) as client:
            return await client.post(
                f"{gateway_url}/suppliers/{supplier_id}/callbacks/{kind}", content=raw, headers=headers
            )

    @staticmethod
    def acknowledgement(po_number: str, status: str, *lines: dict[str, Any]) -> dict[str, Any]:
        return {"po_number": po_number, "status": status, "lines": list(lines), "acknowledged_by": "edi-bot"}

    @staticmethod
    def shipment(po_number: str, *lines: tuple[int, int], shipment_id: str | None = None) -> dict[str, Any]:
        """A notice with only the carrier's name (no SCAC), a tracking URL, a service and unknown extras."""
        return {
            "shipment_id": shipment_id or f"ASN-{uuid.uuid4().hex[:10]}",
            "po_number": po_number,
            "shipped_at": "2026-11-29T09:30:00+01:00",
            "carrier": {"name": "Deutsche Post DHL"},
            "service": "Paket",
            "warehouse": "NJ-2",
            "packages": [
                {
                    "tracking_number": f"JJD{uuid.uuid4().int % 10**12:012d}",
                    "tracking_url": "https://track.example/JJD",
                    "weight_kg": 12.5,
                    "lines": [{"line_no": line_no, "qty": qty} for line_no, qty in lines],
                }
            ],
        }


@contextmanager
def serve_adversarial_supplier(secret: str) -> Iterator[tuple[AdversarialSupplier, str]]:
    double = AdversarialSupplier(secret)
    with run_uvicorn_app(double.app) as url:
        yield double, url
