"""HTTP pieces every service's FastAPI app carries: health, readiness, metrics, correlation ids, problem details."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from pydantic import BaseModel
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dropship_shared.audit import Audit
from dropship_shared.logs import bind_correlation_id
from dropship_shared.messaging import Broker, BrokerState
from dropship_shared.metrics import ScrapeTimeFigures
from dropship_shared.outbox import OutboxLag
from dropship_shared.problems import ProblemError, install_problem_details, problem_response, problem_responses
from dropship_shared.tracing import instrument_app

CORRELATION_HEADER = "X-Correlation-Id"


def correlation_id_of(request: Request) -> str:
    return str(getattr(request.state, "correlation_id", "-"))


class Readiness(BaseModel):
    """Ready when what the HTTP API needs answers (the database, migrated). The broker's state is reported and
    never makes a replica unready: the services write their events to an outbox with their state, so the API
    works while the broker is away and the relay publishes later (README "Readiness")."""

    ready: bool
    checks: dict[str, bool]
    broker: BrokerState


ReadinessCheck = Callable[[], Awaitable[Readiness]]


def install_operational_routes(
    app: FastAPI, readiness: ReadinessCheck, figures: ScrapeTimeFigures | None = None
) -> None:
    """`/healthz`, `/readyz` and `/metrics` (the process's metrics, then `figures` read at the scrape)."""
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
    app.add_middleware(StorableUrlMiddleware)
    app.add_middleware(CorrelationIdMiddleware)
    instrument_app(app)


class CorrelationIdMiddleware:
    """Takes the caller's X-Correlation-Id (or makes one), binds it to the logs and echoes it back.

    Plain ASGI rather than BaseHTTPMiddleware: the latter runs each request through an extra task
    and stream, which showed up as a tenth of the orders service's CPU under load.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get(CORRELATION_HEADER)
        correlation_id = incoming or str(uuid.uuid4())
        scope.setdefault("state", {})["correlation_id"] = correlation_id
        structlog.contextvars.clear_contextvars()
        bind_correlation_id(correlation_id)

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[CORRELATION_HEADER] = correlation_id
            await send(message)

        await self._app(scope, receive, send_with_header)


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


class StorableUrlMiddleware:
    """Refuses a path or query string carrying NUL (PostgreSQL cannot compare or store it) with a 422."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query: bytes = scope.get("query_string", b"") if scope["type"] == "http" else b""
        if scope["type"] == "http" and ("\x00" in scope["path"] or b"%00" in query or b"\x00" in query):
            response = problem_response(422, "the URL must not contain NUL characters")
            await response(scope, receive, send)
            return
        await self._app(scope, receive, send)
