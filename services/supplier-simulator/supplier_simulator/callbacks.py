"""Delivery of signed supplier callbacks to the gateway, with retries and a pending list."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Literal

import httpx
from pydantic import BaseModel

from dropship_shared.signing import sign
from dropship_shared.tracing import continuing, current_traceparent
from supplier_simulator.settings import SimulatorSettings
from supplier_simulator.state import SupplierEvent, dumps, utcnow_iso

log = logging.getLogger(__name__)

EVENT_TYPE_HEADER = "X-Event-Type"
SUPPLIER_HEADER = "X-Supplier-Id"

DeliveryState = Literal["queued", "sending", "sent", "pending"]


class CallbackRecord(BaseModel):
    """One callback delivery (an event can be delivered again as a new record)."""

    event_id: str
    type: str
    po_number: str
    url: str
    body: dict[str, Any]
    state: DeliveryState = "queued"
    attempts: int = 0
    last_status: int | None = None
    last_error: str | None = None
    sent_at: str | None = None
    traceparent: str | None = None  # of the order's trace, continued when the callback is sent


class CallbackDispatcher:
    """Sends callbacks one at a time, in creation order, retrying with exponential backoff.

    A callback that still fails after ``callback_max_attempts`` (or gets a 4xx other
    than 408/429) goes to the pending list; ``retry_pending`` queues those again.
    """

    def __init__(self, settings: SimulatorSettings, http: httpx.AsyncClient | None = None) -> None:
        self._settings = settings
        self._http = http
        self._owns_http = http is None
        self._queue: asyncio.Queue[CallbackRecord] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self.records: list[CallbackRecord] = []

    @property
    def enabled(self) -> bool:
        """Whether a callback URL is configured."""
        return bool(self._settings.callback_url)

    def url_for(self, event_type: str) -> str:
        """The callback URL for an event type (placeholders filled in)."""
        template = self._settings.callback_url or ""
        return template.replace("{supplier_id}", self._settings.supplier_id).replace("{kind}", event_type)

    async def start(self) -> None:
        """Start the delivery worker."""
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self._settings.callback_timeout_seconds)
        if self._worker is None:
            self._worker = asyncio.create_task(self._run(), name="simulator-callbacks")

    async def stop(self) -> None:
        """Stop the worker and close the HTTP client this dispatcher created."""
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None
        if self._owns_http and self._http is not None:
            await self._http.aclose()
            self._http = None

    def submit(self, po_number: str, event: SupplierEvent) -> CallbackRecord | None:
        """Queue delivery of an event; ``None`` when no callback URL is configured."""
        if not self.enabled:
            return None
        record = CallbackRecord(
            event_id=event.event_id,
            type=event.type,
            po_number=po_number,
            url=self.url_for(event.type),
            body=event.body,
            traceparent=current_traceparent(),
        )
        self.records.append(record)
        self._queue.put_nowait(record)
        return record

    def redeliver(self, event_id: str) -> CallbackRecord | None:
        """Deliver an already known event again, same X-Event-Id (tests replay protection)."""
        original = next((r for r in reversed(self.records) if r.event_id == event_id), None)
        if original is None:
            return None
        record = original.model_copy(
            update={"state": "queued", "attempts": 0, "last_status": None, "last_error": None, "sent_at": None}
        )
        self.records.append(record)
        self._queue.put_nowait(record)
        return record

    def retry_pending(self) -> int:
        """Queue every pending callback again; returns how many."""
        pending = [r for r in self.records if r.state == "pending"]
        for record in pending:
            record.state = "queued"
            record.attempts = 0
            self._queue.put_nowait(record)
        return len(pending)

    def clear(self) -> None:
        """Forget all records and drop queued deliveries."""
        while not self._queue.empty():
            self._queue.get_nowait()
            self._queue.task_done()
        self.records.clear()

    async def wait_idle(self) -> None:
        """Wait until every queued callback was sent or parked as pending."""
        await self._queue.join()

    def view(self) -> dict[str, Any]:
        """JSON view for the admin API."""
        dump = [r.model_dump(mode="json") for r in self.records]
        return {
            "sent": [r for r in dump if r["state"] == "sent"],
            "pending": [r for r in dump if r["state"] == "pending"],
            "in_flight": [r for r in dump if r["state"] in ("queued", "sending")],
        }

    def payload(self, record: CallbackRecord) -> tuple[bytes, str]:
        """The bytes to sign and POST for a record, and their content type (X12 mode overrides)."""
        return dumps(record.body), "application/json"

    def accepted(self, record: CallbackRecord, response: httpx.Response) -> None:
        """Hook: the gateway answered a delivery with 2xx (X12 mode reads the 997 in the answer)."""

    async def _run(self) -> None:
        while True:
            record = await self._queue.get()
            try:
                if record.state == "queued":
                    with continuing(f"callback {record.type}", record.traceparent, po_number=record.po_number):
                        await self._deliver(record)
            except Exception:  # pragma: no cover - never let the worker die
                log.exception("callback delivery crashed for %s", record.event_id)
                record.state = "pending"
            finally:
                self._queue.task_done()

    async def _deliver(self, record: CallbackRecord) -> None:
        assert self._http is not None
        settings = self._settings
        record.state = "sending"
        body, content_type = self.payload(record)
        delay = settings.callback_backoff_seconds
        while True:
            record.attempts += 1
            headers = sign(settings.secret, body, event_id=record.event_id)
            headers["Content-Type"] = content_type
            headers[EVENT_TYPE_HEADER] = record.type
            headers[SUPPLIER_HEADER] = settings.supplier_id
            retryable = True
            try:
                response = await self._http.post(record.url, content=body, headers=headers)
                record.last_status = response.status_code
                if response.is_success:
                    self.accepted(record, response)
                    record.state = "sent"
                    record.last_error = None
                    record.sent_at = utcnow_iso()
                    return
                record.last_error = f"HTTP {response.status_code}: {response.text[:200]}"
                retryable = response.status_code >= 500 or response.status_code in (408, 429)
            except httpx.HTTPError as exc:
                record.last_error = f"{type(exc).__name__}: {exc}"
            if not retryable or record.attempts >= settings.callback_max_attempts:
                record.state = "pending"
                log.warning("callback %s parked as pending: %s", record.event_id, record.last_error)
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, settings.callback_backoff_max_seconds)
