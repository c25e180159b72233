"""HTTP pieces every service's FastAPI app carries: health, readiness, metrics, correlation ids, problem details."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import asdict
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dropship_shared.audit import Audit
from dropship_shared.body_limits import BodyLimits, BodyTooLarge, refuse_too_large
from dropship_shared.logs import bind_correlation_id
from dropship_shared.messaging import Broker, BrokerState
from dropship_shared.metrics import ScrapeTimeFigures
from dropship_shared.outbox import OutboxLag
from dropship_shared.problems import ProblemError, install_problem_details, problem_response, problem_responses
from dropship_shared.tracing import instrument_app

CORRELATION_HEADER = "X-Correlation-Id"
_log = structlog.get_logger(__name__)


def correlation_id_of(request: Request) -> str:
    return str(getattr(request.state, "correlation_id", "-"))


class WorkerReadiness(BaseModel):
    """Ready when what a worker (a process doing one part of a service's background work, without its API or
    the broker: orders' customer-message sender) needs answers: its database, migrated."""

    ready: bool
    checks: dict[str, bool]


class Readiness(WorkerReadiness):
    """Ready when what the HTTP API needs answers (the database, migrated). The broker's state is reported and
    never makes a replica unready: the services write their events to an outbox with their state, so the API
    works while the broker is away and the relay publishes later (README "Readiness")."""

    broker: BrokerState


ReadinessCheck = Callable[[], Awaitable[WorkerReadiness]]


def install_operational_routes(
    app: FastAPI, readiness: ReadinessCheck, figures: ScrapeTimeFigures | None = None, *, access_log: bool = False
) -> None:
    """`/healthz`, `/readyz` and `/metrics` (the process's metrics, then `figures` read at the scrape), problem
    details, and the edge every request passes (`ServiceEdge`; `install_body_limits` sets its limits)."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/readyz",
        summary="The database answers (migrated); the broker's state is reported, not required",
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "Not ready: a check failed"}},
    )
    async def readyz() -> JSONResponse:
        report = await readiness()
        return JSONResponse(report.model_dump(mode="json"), status_code=200 if report.ready else 503)

    @router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        exposition = await figures.exposition() if figures is not None else generate_latest(REGISTRY)
        return Response(exposition, media_type=CONTENT_TYPE_LATEST)

    app.include_router(router)

    install_problem_details(app)
    app.state.body_limits = BodyLimits()
    app.add_middleware(ServiceEdge, body_limits=app.state.body_limits, access_log=access_log)
    instrument_app(app)


class ServiceEdge:
    """What every request passes on its way in and out, in one plain ASGI layer (one frame and one send wrapper
    per request, where three middlewares each had theirs):
    - the correlation id: the caller's X-Correlation-Id (or a new one), bound to the logs and echoed back;
    - a path or query string carrying NUL (PostgreSQL cannot compare or store it) refused with a 422;
    - the body limit (`BodyLimits`): refused with a 413 as soon as the Content-Length says so, or as soon as the
      bytes received pass it, chunked or not;
    - the request's log line, for a refused or failed request (status 400 and up), or for every one with
      `access_log` (ACCESS_LOG=true); uvicorn's own access log, a plain-text line per request, is off.
    Plain ASGI rather than BaseHTTPMiddleware: the latter runs each request through an extra task and stream.
    """

    def __init__(self, app: ASGIApp, body_limits: BodyLimits, access_log: bool) -> None:
        self._app = app
        self._limits = body_limits
        self._access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        incoming, declared = _correlation_and_length(scope["headers"])
        correlation_id = incoming or new_correlation_id()
        scope.setdefault("state", {})["correlation_id"] = correlation_id
        structlog.contextvars.clear_contextvars()
        bind_correlation_id(correlation_id)
        echoed = (CORRELATION_KEY, correlation_id.encode("latin-1"))
        status = 0

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [header for header in message.get("headers", ()) if header[0] != CORRELATION_KEY]
                headers.append(echoed)
                message["headers"] = headers
            await send(message)

        try:
            await self._edge(scope, receive, answer, declared)
        except Exception:
            status = status or 500  # answered by the server error handler, outside this layer
            raise
        finally:
            if self._access_log or status >= 400:
                _request_line(scope, status, started)

    async def _edge(self, scope: Scope, receive: Receive, send: Send, declared: bytes | None) -> None:
        query: bytes = scope.get("query_string", b"")
        if "\x00" in scope["path"] or b"%00" in query or b"\x00" in query:
            await problem_response(422, "the URL must not contain NUL characters")(scope, receive, send)
            return
        limit = self._limits.limit_of(scope["method"], scope["path"])
        if limit is None:
            await self._app(scope, receive, send)
            return
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await refuse_too_large(BodyTooLarge(limit), scope, receive, send)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._app(scope, counted_receive, tracked_send)
        except BodyTooLarge as exc:
            if started:
                raise
            await refuse_too_large(exc, scope, receive, send)


CORRELATION_KEY = CORRELATION_HEADER.lower().encode("latin-1")
_VARIANT_DIGIT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def new_correlation_id() -> str:
    """A random (version 4) UUID's text, as `str(uuid.uuid4())` writes it, without building the `UUID` object on
    the way: that was a third of the edge's CPU per request."""
    digits = os.urandom(16).hex()
    return f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-{_VARIANT_DIGIT[digits[16]]}{digits[17:20]}-{digits[20:]}"


def _correlation_and_length(headers: Iterable[tuple[bytes, bytes]]) -> tuple[str | None, bytes | None]:
    """The X-Correlation-Id (None when absent or empty) and the Content-Length of a request, in one pass."""
    correlation: str | None = None
    length: bytes | None = None
    for name, value in headers:
        if name == CORRELATION_KEY and correlation is None:
            correlation = value.decode("latin-1") or None
        elif name == b"content-length" and length is None:
            length = value
    return correlation, length


def _request_line(scope: Scope, status: int, started: float) -> None:
    query = scope.get("query_string", b"")
    client = scope.get("client")
    (_log.warning if status >= 500 else _log.info)(
        "http_request",
        method=scope["method"],
        path=scope["path"] + ("?" + query.decode("latin-1") if query else ""),
        status=status,
        duration_ms=round(1000 * (time.perf_counter() - started), 1),
        client=f"{client[0]}:{client[1]}" if client else None,
    )


@contextlib.asynccontextmanager
async def broker_needed() -> AsyncIterator[None]:
    """A broker that is away (restarting, unreachable) is a 503 the operator can retry, not a 500; so is a channel
    closed under the request (aiormq fails its pending calls with a CancelledError). A cancellation of the
    request's own task (the client went away, shutdown) is not the broker's and goes on."""
    try:
        yield
    except asyncio.CancelledError as exc:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        raise _broker_unavailable(exc) from exc
    except Exception as exc:
        raise _broker_unavailable(exc) from exc


def _broker_unavailable(exc: BaseException) -> ProblemError:
    structlog.get_logger(__name__).warning("dead_letters_unavailable", error=repr(exc))
    return ProblemError(503, "the message broker is not reachable; retry shortly", headers={"Retry-After": "5"})


def install_dead_letter_routes(
    app: FastAPI, broker: Broker, queue: str, outbox_lag: Callable[[], Awaitable[OutboxLag]]
) -> None:
    """The service's dead-letter queue, for operators: look at what failed, replay it after a fix."""
    router = APIRouter(prefix="/admin", tags=["operations"])

    @router.get(
        "/dead-letters",
        summary="Messages this service could not handle (peeked, not removed)",
        responses=problem_responses(503),
    )
    async def list_dead_letters(limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
        async with broker_needed():
            letters = await broker.dead_letters(queue, limit)
        return {"queue": f"{queue}.dlq", "messages": [asdict(letter) for letter in letters]}

    @router.post(
        "/dead-letters/replay",
        summary="Publish the dead-lettered messages again under their original routing key",
        responses=problem_responses(503),
    )
    async def replay(
        request: Request, audit: Audit, limit: Annotated[int, Query(ge=1, le=10_000)] = 1000
    ) -> dict[str, int]:
        async with broker_needed():
            replayed = await broker.replay_dead_letters(queue, limit)
        await audit.record(request, "dead_letters.replay", f"{queue}.dlq", {"replayed": replayed})
        return {"replayed": replayed}

    @router.get(
        "/backlog",
        summary="What waits: events in this service's queue (consumer lag), dead letters, unpublished outbox rows",
        responses=problem_responses(503),
    )
    async def backlog() -> dict[str, Any]:
        async with broker_needed():
            waiting, dead = await broker.queue_depth(queue), await broker.queue_depth(f"{queue}.dlq")
        return {
            "queue": queue,
            "queued_events": waiting,
            "dead_letters": dead,
            "outbox_pending": (await outbox_lag()).pending,
        }

    app.include_router(router)
