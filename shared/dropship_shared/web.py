"""HTTP pieces every service's FastAPI app carries: health, readiness, metrics, correlation ids."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from dropship_shared.logs import bind_correlation_id
from dropship_shared.messaging import Broker

Readiness = Callable[[], Awaitable[dict[str, bool]]]
CORRELATION_HEADER = "X-Correlation-Id"


def correlation_id_of(request: Request) -> str:
    return str(getattr(request.state, "correlation_id", "-"))


def install_operational_routes(app: FastAPI, readiness: Readiness) -> None:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="Database and broker are reachable")
    async def readyz() -> JSONResponse:
        checks = await readiness()
        ready = all(checks.values())
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    @router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.include_router(router)

    @app.middleware("http")
    async def correlation(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        correlation_id = request.headers.get(CORRELATION_HEADER) or str(uuid.uuid4())
        request.state.correlation_id = correlation_id
        structlog.contextvars.clear_contextvars()
        bind_correlation_id(correlation_id)
        response = await call_next(request)
        response.headers[CORRELATION_HEADER] = correlation_id
        return response


def install_dead_letter_routes(app: FastAPI, broker: Broker, queue: str) -> None:
    """The service's dead-letter queue, for operators: look at what failed, replay it after a fix."""
    router = APIRouter(prefix="/admin/dead-letters", tags=["operations"])

    @router.get("", summary="Messages this service could not handle (peeked, not removed)")
    async def list_dead_letters(limit: Annotated[int, Query(ge=1, le=500)] = 50) -> dict[str, Any]:
        letters = await broker.dead_letters(queue, limit)
        return {"queue": f"{queue}.dlq", "messages": [asdict(letter) for letter in letters]}

    @router.post("/replay", summary="Publish the dead-lettered messages again under their original routing key")
    async def replay(limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> dict[str, int]:
        return {"replayed": await broker.replay_dead_letters(queue, limit)}

    app.include_router(router)
