"""With tracing off, FastAPI's own OpenTelemetry is off in the app (`tracing.native_fastapi_telemetry`): a request
does not look the global providers up to find them unconfigured."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import trace

from dropship_shared.tracing import native_fastapi_telemetry, tracing_enabled


async def test_a_request_does_not_look_up_the_tracer_provider_when_tracing_is_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert not tracing_enabled()
    app = FastAPI(telemetry=native_fastapi_telemetry())

    @app.get("/ping")
    async def ping() -> str:
        return "pong"

    looked_up: list[object] = []
    provider = trace.get_tracer_provider()
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: looked_up.append(provider) or provider)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as client:
        assert (await client.get("/ping")).json() == "pong"
    assert looked_up == []
