"""The edge every request passes (web.ServiceEdge): the correlation id on every answer, refusals of NUL URLs and
oversized bodies, and a log line per refused or failed request (every request only with ACCESS_LOG=true)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from structlog.testing import capture_logs

from dropship_shared.body_limits import install_body_limits
from dropship_shared.service_main import uvicorn_config
from dropship_shared.web import CORRELATION_HEADER, install_operational_routes, new_correlation_id

LIMIT = 1_000


def make_app(access_log: bool = False) -> FastAPI:
    async def ready() -> dict[str, bool]:
        return {"database": True}

    app = FastAPI()

    @app.post("/things")
    async def post_thing(thing: dict[str, Any]) -> dict[str, Any]:
        return thing

    @app.get("/things/{name}")
    async def get_thing(name: str) -> dict[str, str]:
        if name == "boom":
            raise RuntimeError("an unexpected failure")
        raise HTTPException(404, detail=f"no thing {name!r}")

    install_operational_routes(app, ready, access_log=access_log)  # type: ignore[arg-type]
    install_body_limits(app, LIMIT)
    return app


@asynccontextmanager
async def client(access_log: bool = False) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app(access_log), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://edge") as http:
        yield http


@pytest.fixture
def logs() -> Iterator[list[dict[str, Any]]]:
    with capture_logs() as captured:
        yield captured


def request_lines(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in logs if line["event"] == "http_request"]


async def test_a_successful_request_writes_no_log_line_a_refused_or_failed_one_does(
    logs: list[dict[str, Any]],
) -> None:
    async with client() as http:
        assert (await http.post("/things", json={"a": 1})).status_code == 200
        assert (await http.get("/healthz")).status_code == 200
        assert request_lines(logs) == []
        assert (await http.get("/things/chair?x=1", headers={CORRELATION_HEADER: "c-404"})).status_code == 404
        assert (await http.get("/things/boom")).status_code == 500
    refused, failed = request_lines(logs)
    assert (refused["method"], refused["path"], refused["status"], refused["log_level"]) == (
        "GET",
        "/things/chair?x=1",
        404,
        "info",
    )
    assert (failed["path"], failed["status"], failed["log_level"]) == ("/things/boom", 500, "warning")


async def test_with_access_log_every_request_writes_its_line(logs: list[dict[str, Any]]) -> None:
    async with client(access_log=True) as http:
        await http.post("/things", json={"a": 1})
        await http.get("/healthz")
    assert [(line["method"], line["path"], line["status"]) for line in request_lines(logs)] == [
        ("POST", "/things", 200),
        ("GET", "/healthz", 200),
    ]


def test_uvicorn_writes_no_access_log_of_its_own() -> None:
    assert uvicorn_config(make_app(), "127.0.0.1", 8000).access_log is False


async def test_every_answer_carries_the_correlation_id_refusals_at_the_edge_included() -> None:
    async with client() as http:
        given = {CORRELATION_HEADER: "trace-42"}
        ok = await http.post("/things", json={"a": 1}, headers=given)
        too_big = await http.post("/things", content=b"x" * (LIMIT + 1), headers=given)
        nul = await http.get("/things/a%00b", headers=given)
        made = await http.get("/healthz")
        empty = await http.get("/healthz", headers={CORRELATION_HEADER: ""})
    assert [answer.status_code for answer in (ok, too_big, nul)] == [200, 413, 422]
    assert [answer.headers[CORRELATION_HEADER] for answer in (ok, too_big, nul)] == ["trace-42"] * 3
    assert too_big.headers["content-type"] == nul.headers["content-type"] == "application/problem+json"
    assert len(made.headers[CORRELATION_HEADER]) == 36 and len(empty.headers[CORRELATION_HEADER]) == 36
    assert made.headers.get_list(CORRELATION_HEADER) == [made.headers[CORRELATION_HEADER]]


def test_body_limits_need_the_edge_first() -> None:
    with pytest.raises(RuntimeError, match="install_operational_routes first"):
        install_body_limits(FastAPI(), LIMIT)


def test_a_made_correlation_id_is_a_random_uuid_written_as_uuid_writes_it() -> None:
    made = [new_correlation_id() for _ in range(2_000)]
    parsed = [uuid.UUID(text) for text in made]
    assert [str(one) for one in parsed] == made
    assert {(one.version, one.variant) for one in parsed} == {(4, uuid.RFC_4122)}
    assert len(set(made)) == len(made)
    assert {text[19] for text in made} == set("89ab")  # every variant digit, so no bit of it is fixed
