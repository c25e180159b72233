"""The one HTTP client of suppliers: idempotent PO placement, cancel, event polling (the generic JSON API) and
document posting (X12), all on one retry / circuit breaker / rate limit layer per supplier, raising the
supplier port's errors (SupplierRefused, SupplierUnreachable)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import quote
from uuid import UUID

import httpx
from prometheus_client import Counter, Histogram
from pydantic import BaseModel
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

from supplier_gateway.adapters.circuit_breaker import CircuitBreaker, CircuitState
from supplier_gateway.adapters.rate_limit import TokenBucket
from supplier_gateway.adapters.supplier_answers import CancelVerdict, cancel_verdict, refusal_reason
from supplier_gateway.service_layer.supplier_port import SupplierRefused, SupplierUnreachable

log = logging.getLogger(__name__)

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
T = TypeVar("T")

# One observation per HTTP attempt (a retried call is several); labels: supplier, and what the call was
# (place | cancel | poll | document). Errors by kind: timeout | connection | server_error (5xx, 408) |
# throttled (429) | refused (a 4xx the supplier meant) | unreadable (an answer that breaks the contract) |
# circuit_open (not sent: the breaker is open).
SUPPLIER_CALL_SECONDS = Histogram(
    "supplier_call_duration_seconds",
    "One HTTP attempt to a supplier, from sending to its answer or failure",
    ["supplier_id", "operation"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
SUPPLIER_CALL_ERRORS = Counter(
    "supplier_call_errors_total", "Supplier calls that failed, by kind", ["supplier_id", "operation", "kind"]
)


# -- errors --------------------------------------------------------------------------------
class SupplierCircuitOpen(SupplierUnreachable):
    """Failing fast: the supplier's circuit breaker is open."""


class _TransientFailure(Exception):
    """Internal: one attempt failed in a way worth retrying."""

    def __init__(self, description: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.retry_after = retry_after


# -- results -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PlacementResult:
    """The supplier's answer to a placed PO. ``replayed``: the answer to an earlier request."""

    supplier_order_id: str
    status: str
    replayed: bool
    http_status: int = 201
    attempts: int = 1
    body: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CancelResult:
    """The supplier's answer to a cancel request."""

    outcome: CancelVerdict
    reason: str | None = None
    body: Mapping[str, Any] = field(default_factory=dict)
    attempts: int = 1

    @property
    def accepted(self) -> bool:
        """Whether the cancellation took effect."""
        return self.outcome is CancelVerdict.ACCEPTED


@dataclass(frozen=True, slots=True)
class PolledEvent:
    """One acknowledgement or shipment notice from the polling feed (same body as a callback)."""

    cursor: int
    event_id: str
    type: str
    body: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class EventsPage:
    """Events after a cursor and the cursor to ask from next time."""

    po_number: str
    events: list[PolledEvent]
    next_cursor: int


# -- configuration -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries of transient failures: exponential backoff with jitter, Retry-After honoured."""

    max_attempts: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    jitter: float | None = None  # seconds of random extra wait; None: same as backoff_base
    retry_after_cap: float = 60.0


@dataclass(frozen=True, slots=True)
class SupplierLimits:
    """Per-supplier protection: request rate and circuit breaker."""

    requests_per_second: float | None = 10.0  # None: unlimited
    burst: float | None = None  # None: max(requests_per_second, 1)
    failure_threshold: int = 5
    reset_timeout: float = 30.0


@dataclass(frozen=True, slots=True)
class HttpSupplierConfig:
    """Timings and limits of :class:`HttpSupplierClient` (tests shrink them)."""

    timeout: float = 10.0
    connect_timeout: float | None = None
    retry: RetryPolicy = RetryPolicy()
    limits: SupplierLimits = SupplierLimits()
    supplier_limits: Mapping[str, SupplierLimits] = field(default_factory=dict)
    user_agent: str = "dropship-supplier-gateway/0.1"


# -- helpers -------------------------------------------------------------------------------
def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); ``None`` if absent/bad."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(float(text), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max((when - current).total_seconds(), 0.0)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"cannot serialise {type(value).__name__} to JSON")


def _payload(po: Mapping[str, Any] | BaseModel) -> dict[str, Any]:
    if isinstance(po, BaseModel):
        data: Any = po.model_dump(mode="json")
    else:
        data = json.loads(json.dumps(dict(po), default=_json_default))
    if not isinstance(data, dict):
        raise TypeError("a purchase order must serialise to a JSON object")
    return data


def _encode(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def _unreadable(status: int, body: Any, message: str) -> SupplierUnreachable:
    """A success status whose body breaks the contract: not a refusal, so it is tried again later."""
    return SupplierUnreachable(f"{message} (HTTP {status}: {body!r})"[:500])


def _truthy(value: str | None) -> bool | None:
    if value is None:
        return None
    return value.strip().lower() in ("true", "1", "yes")


# -- the client ----------------------------------------------------------------------------
class HttpSupplierClient:
    """Talks the generic HTTP/JSON supplier API, safely under failures.

    Every call is keyed to a supplier (``supplier_id``, else the base URL) that has its own
    circuit breaker and token bucket, so one slow or dead supplier never stalls the others.
    Transient failures (5xx, 408, 429, timeouts, connection errors) are retried with
    exponential backoff and jitter, waiting what ``Retry-After`` asks (capped); each
    attempt re-checks the breaker and the rate limit. Placement carries
    ``Idempotency-Key: <po_number>``, so a retried PO is never placed twice.
    """

    def __init__(
        self,
        http: httpx.AsyncClient | None = None,
        *,
        config: HttpSupplierConfig | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = config or HttpSupplierConfig()
        self._http = http or httpx.AsyncClient()
        self._owns_http = http is None
        self._clock = clock
        self._sleep = sleep
        self._breakers: dict[str, CircuitBreaker] = {}
        self._limiters: dict[str, TokenBucket | None] = {}
        self._registered: dict[str, SupplierLimits] = {}
        self._timeouts: dict[str, httpx.Timeout] = {}
        self._timeout = httpx.Timeout(self.config.timeout, connect=self.config.connect_timeout or self.config.timeout)

    async def __aenter__(self) -> HttpSupplierClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this instance created it."""
        if self._owns_http:
            await self._http.aclose()

    # -- per-supplier protection ---------------------------------------------------------
    def _limits(self, key: str) -> SupplierLimits:
        return self._registered.get(key) or self.config.supplier_limits.get(key, self.config.limits)

    def protect(self, supplier_key: str, requests_per_second: float | None, timeout: float | None) -> None:
        """Use a supplier's own rate limit and timeout (from its registry entry); a change starts it afresh."""
        limits = dataclasses.replace(self.config.limits, requests_per_second=requests_per_second)
        if self._registered.get(supplier_key) != limits:
            self._registered[supplier_key] = limits
            self._breakers.pop(supplier_key, None)
            self._limiters.pop(supplier_key, None)
        if timeout:
            self._timeouts[supplier_key] = httpx.Timeout(timeout)
        else:
            self._timeouts.pop(supplier_key, None)

    def breaker(self, supplier_key: str) -> CircuitBreaker:
        """The circuit breaker of one supplier (created on first use)."""
        found = self._breakers.get(supplier_key)
        if found is None:
            limits = self._limits(supplier_key)
            found = CircuitBreaker(limits.failure_threshold, limits.reset_timeout, clock=self._clock, name=supplier_key)
            self._breakers[supplier_key] = found
        return found

    def breaker_state(self, supplier_key: str) -> CircuitState:
        """State of one supplier's breaker."""
        return self.breaker(supplier_key).state

    def circuit_states(self) -> dict[str, CircuitState]:
        """Every breaker this process has used, by supplier (a supplier not called yet has none: closed)."""
        return {key: breaker.state for key, breaker in self._breakers.items()}

    def rate_limiter(self, supplier_key: str) -> TokenBucket | None:
        """The token bucket of one supplier, ``None`` when unlimited."""
        if supplier_key not in self._limiters:
            limits = self._limits(supplier_key)
            self._limiters[supplier_key] = (
                TokenBucket(limits.requests_per_second, limits.burst, clock=self._clock, sleep=self._sleep)
                if limits.requests_per_second
                else None
            )
        return self._limiters[supplier_key]

    # -- operations ------------------------------------------------------------------------
    async def place_purchase_order(
        self,
        base_url: str,
        po: Mapping[str, Any] | BaseModel,
        *,
        supplier_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> PlacementResult:
        """POST the PO with ``Idempotency-Key: <po_number>``; a replayed answer is a success.

        Raises SupplierRefused (4xx, not retried) or SupplierUnreachable (retries exhausted, circuit
        open, or an answer that breaks the contract).
        """
        payload = _payload(po)
        po_number = payload.get("po_number")
        if not isinstance(po_number, str) or not po_number:
            raise ValueError("the purchase order needs a non-empty po_number")
        url = f"{base_url.rstrip('/')}/purchase-orders"
        request_headers = {**(headers or {}), IDEMPOTENCY_HEADER: po_number}

        def classify(response: httpx.Response, attempts: int) -> PlacementResult:
            code = response.status_code
            body = _body(response)
            if code == 409 and isinstance(body, Mapping) and body.get("supplier_order_id"):
                return PlacementResult(
                    supplier_order_id=str(body["supplier_order_id"]),
                    status=str(body.get("status") or "received"),
                    replayed=True,
                    http_status=code,
                    attempts=attempts,
                    body=body,
                )
            if 400 <= code < 500:
                raise SupplierRefused(refusal_reason(code, body), code)
            if code not in (200, 201, 202) or not isinstance(body, Mapping) or not body.get("supplier_order_id"):
                raise _unreadable(code, body, "placement answer without supplier_order_id")
            replayed = _truthy(response.headers.get(REPLAYED_HEADER))
            return PlacementResult(
                supplier_order_id=str(body["supplier_order_id"]),
                status=str(body.get("status") or "received"),
                replayed=(code == 200) if replayed is None else replayed,
                http_status=code,
                attempts=attempts,
                body=body,
            )

        return await self._call(
            supplier_id or base_url.rstrip("/"),
            "place",
            "POST",
            url,
            classify,
            content=_encode(payload),
            headers=request_headers,
        )

    async def cancel_purchase_order(
        self,
        base_url: str,
        po_number: str,
        lines: Sequence[Mapping[str, Any]] | None = None,
        *,
        supplier_id: str | None = None,
        idempotency_key: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> CancelResult:
        """Cancel lines (``[{line_no, qty}]``) or, with ``lines=None``, everything still open.

        Retries reuse one Idempotency-Key; by default it is derived from the PO and the
        lines, so pass a distinct ``idempotency_key`` (e.g. the triggering event id) when
        the same quantities are cancelled twice on purpose.
        """
        payload: dict[str, Any] = {}
        if lines is not None:
            payload["lines"] = [{"line_no": int(ln["line_no"]), "qty": int(ln["qty"])} for ln in lines]
        if idempotency_key is None:
            digest = hashlib.sha256(_encode(payload.get("lines", "all"))).hexdigest()[:16]
            idempotency_key = f"{po_number}:cancel:{digest}"
        url = f"{base_url.rstrip('/')}/purchase-orders/{quote(po_number, safe='')}/cancel"

        def classify(response: httpx.Response, attempts: int) -> CancelResult:
            body = _body(response)
            verdict, reason = cancel_verdict(response.status_code, body)
            return CancelResult(verdict, reason, body if isinstance(body, Mapping) else {}, attempts)

        return await self._call(
            supplier_id or base_url.rstrip("/"),
            "cancel",
            "POST",
            url,
            classify,
            content=_encode(payload),
            headers={**(headers or {}), IDEMPOTENCY_HEADER: idempotency_key},
        )

    async def poll_events(
        self,
        base_url: str,
        po_number: str,
        cursor: int | None = None,
        *,
        supplier_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> EventsPage:
        """Fetch the PO's acknowledgements/shipments after ``cursor`` (polling-mode suppliers)."""
        url = f"{base_url.rstrip('/')}/purchase-orders/{quote(po_number, safe='')}/events"
        after = int(cursor or 0)

        def classify(response: httpx.Response, attempts: int) -> EventsPage:
            code = response.status_code
            body = _body(response)
            if 400 <= code < 500:
                raise SupplierRefused(refusal_reason(code, body), code)
            if code != 200 or not isinstance(body, Mapping) or not isinstance(body.get("events"), list):
                raise _unreadable(code, body, "events answer without an events list")
            try:
                events = [
                    PolledEvent(int(e["cursor"]), str(e["event_id"]), str(e["type"]), dict(e["body"]))
                    for e in body["events"]
                ]
            except (KeyError, TypeError, ValueError) as exc:
                raise _unreadable(code, body, "malformed event in the feed") from exc
            next_cursor = int(body.get("next_cursor") or (events[-1].cursor if events else after))
            return EventsPage(po_number, events, next_cursor)

        return await self._call(
            supplier_id or base_url.rstrip("/"),
            "poll",
            "GET",
            url,
            classify,
            params={"after": after},
            headers=dict(headers or {}),
        )

    async def post_document(self, url: str, body: bytes, headers: Mapping[str, str], *, supplier_id: str) -> None:
        """POST a ready-made document (an X12 interchange) to the supplier's endpoint; any 2xx takes it."""

        def classify(response: httpx.Response, attempts: int) -> None:
            code = response.status_code
            if 400 <= code < 500:
                words = refusal_reason(code, _body(response))
                raise SupplierRefused(f"the endpoint refused the document: {words}", code)
            if not 200 <= code < 300:
                raise _unreadable(code, _body(response), "unexpected answer to a document")

        await self._call(supplier_id, "document", "POST", url, classify, content=body, headers=dict(headers))

    # -- the retry loop --------------------------------------------------------------------
    def _wait(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, _TransientFailure) and exc.retry_after is not None:
            return min(exc.retry_after, self.config.retry.retry_after_cap)
        return self.backoff(retry_state.attempt_number)

    def backoff(self, attempt_number: int) -> float:
        """Wait after failed attempt ``attempt_number`` (1-based): base·2ⁿ⁻¹ + jitter, capped."""
        retry = self.config.retry
        jitter = retry.backoff_base if retry.jitter is None else retry.jitter
        exponential = retry.backoff_base * 2.0 ** min(attempt_number - 1, 60)
        return min(exponential + random.uniform(0, jitter), retry.backoff_max)

    async def _call(
        self,
        supplier_key: str,
        operation: str,
        method: str,
        url: str,
        classify: Callable[[httpx.Response, int], T],
        **request: Any,
    ) -> T:
        breaker = self.breaker(supplier_key)
        limiter = self.rate_limiter(supplier_key)
        request.setdefault("headers", {})["User-Agent"] = self.config.user_agent
        attempts = 0
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.config.retry.max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_TransientFailure),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    if not breaker.allow_request():
                        SUPPLIER_CALL_ERRORS.labels(supplier_key, operation, "circuit_open").inc()
                        raise SupplierCircuitOpen(
                            f"circuit open for supplier {supplier_key!r}; retry in {breaker.retry_after():.2f}s",
                            breaker.retry_after(),
                            attempts=attempts - 1,
                        )
                    time_limit = self._timeouts.get(supplier_key, self._timeout)
                    response = await self._attempt(
                        breaker, limiter, (supplier_key, operation), method, url, request, time_limit
                    )
                    return _classified(classify, response, attempts, (supplier_key, operation))
        except _TransientFailure as exc:
            log.warning("supplier %s unavailable after %d attempts: %s", supplier_key, attempts, exc)
            raise SupplierUnreachable(
                f"supplier {supplier_key!r} unavailable after {attempts} attempts: {exc}",
                exc.retry_after,
                attempts=attempts,
                last_status=exc.status,
            ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def _attempt(
        self,
        breaker: CircuitBreaker,
        limiter: TokenBucket | None,
        call: tuple[str, str],
        method: str,
        url: str,
        request: dict[str, Any],
        time_limit: httpx.Timeout,
    ) -> httpx.Response:
        if limiter is not None:
            try:
                await limiter.acquire()
            except BaseException:
                breaker.release()
                raise
        started = time.perf_counter()
        try:
            response = await self._http.request(method, url, timeout=time_limit, **request)
        except httpx.TransportError as exc:  # timeouts, refused/reset connections, protocol errors
            SUPPLIER_CALL_SECONDS.labels(*call).observe(time.perf_counter() - started)
            kind = "timeout" if isinstance(exc, httpx.TimeoutException) else "connection"
            SUPPLIER_CALL_ERRORS.labels(*call, kind).inc()
            breaker.record_failure()
            raise _TransientFailure(f"{method} {url}: {type(exc).__name__}: {exc}") from exc
        except BaseException:
            breaker.release()
            raise
        SUPPLIER_CALL_SECONDS.labels(*call).observe(time.perf_counter() - started)
        code = response.status_code
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if code >= 500 or code == 408:
            SUPPLIER_CALL_ERRORS.labels(*call, "server_error").inc()
            breaker.record_failure()
            raise _TransientFailure(f"{method} {url}: HTTP {code}", status=code, retry_after=retry_after)
        breaker.record_success()  # the supplier answered: it is up, even when it says 429/4xx
        if code == 429:
            SUPPLIER_CALL_ERRORS.labels(*call, "throttled").inc()
            raise _TransientFailure(f"{method} {url}: HTTP 429", status=code, retry_after=retry_after)
        return response


def _classified(
    classify: Callable[[httpx.Response, int], T], response: httpx.Response, attempts: int, call: tuple[str, str]
) -> T:
    """The answer read by the operation, its refusals and broken answers counted as errors of their kind."""
    try:
        return classify(response, attempts)
    except SupplierRefused:
        SUPPLIER_CALL_ERRORS.labels(*call, "refused").inc()
        raise
    except SupplierUnreachable:
        SUPPLIER_CALL_ERRORS.labels(*call, "unreadable").inc()
        raise
