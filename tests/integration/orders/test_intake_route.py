"""POST /orders' own handler (`IntakeRoute`) answers every request as FastAPI's handler answers it: the same status,
headers and bytes for bodies valid or not (bad JSON, bytes that are not UTF-8, other content types, missing,
extra and mistyped fields, nasty email addresses) and for every credential (none, a wrong role, a bad token), in
FastAPI's order (the JSON read, then the authorization, then the body's validation); and it is what serves it."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import fastapi.routing
import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dropship_shared.events import Address
from orders.domain.model import RequestedLine
from orders.entrypoints.intake_route import IntakeRoute
from orders.entrypoints.schemas import OrderIn
from orders.service_layer.handlers import PlacedOrder, PlaceOrder
from orders.service_layer.intake import OrderIntake
from support.orders_api import LAMP, SHIP_TO, orders_app_client
from support.tokens import bearer

VALID = {"customer_email": "ann@example.com", "ship_to": SHIP_TO, "lines": [{"sku": "LAMP", "quantity": 1}]}
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
EMAILS = st.emails() | st.text(max_size=40) | st.sampled_from(["Ann <a@b.com>", '"a b"@example.com', "a@b.local"])


class AnsweredAtOnce:
    """An intake answering every order with one placed before: the answers compare byte for byte."""

    def __init__(self, placed: PlacedOrder) -> None:
        self._placed = placed

    async def place(self, command: PlaceOrder, correlation_id: str) -> PlacedOrder:
        return self._placed


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["valid", "field", "missing", "extra", "json", "raw"]))
    body: Any = {**VALID}
    if kind == "valid":
        body["customer_email"] = draw(EMAILS)
    elif kind == "field":
        body[draw(st.sampled_from(sorted(VALID)))] = draw(JSON_VALUES)
    elif kind == "missing":
        body.pop(draw(st.sampled_from(sorted(VALID))))
    elif kind == "extra":
        body[draw(st.text(max_size=8))] = draw(JSON_VALUES)
    elif kind == "json":
        body = draw(JSON_VALUES)
    else:
        return draw(st.binary(max_size=40) | st.sampled_from([b"", b"{", b'{"a": NaN}', b"\xff\xfe{}", b"[1,]"]))
    return json.dumps(body).encode()


CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json",
        None,
        "application/json; charset=utf-8",
        "APPLICATION/JSON",
        "application/merge-patch+json",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/",
    ]
)
CREDENTIALS = st.sampled_from(
    [bearer(), bearer("operations"), {}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic YTpi"}]
)


@pytest.fixture
async def orders_app(sqlite_url: str) -> AsyncIterator[FastAPI]:
    async with orders_app_client(sqlite_url, [LAMP]) as (app, _):
        intake: OrderIntake = app.state.intake
        ship_to = Address.model_validate(SHIP_TO)
        command = PlaceOrder(customer_email="ann@example.com", ship_to=ship_to, lines=[RequestedLine("LAMP", 1)])
        app.state.intake = AnsweredAtOnce(await intake.place(command, "test"))
        yield app


async def answer(
    app: FastAPI, body: bytes | list[bytes], headers: dict[str, str]
) -> tuple[int, list[tuple[str, str]], bytes]:
    """The answer to a POST /orders of `body`, sent chunked (no Content-Length) when it is a list of chunks."""

    async def chunked(chunks: list[bytes]) -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    content = body if isinstance(body, bytes) else chunked(body)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://orders") as client:
        response = await client.post("/orders", content=content, headers=headers)
    return response.status_code, response.headers.multi_items(), response.content


def fastapi_handler_used() -> dict[Any, Any]:
    """Dependency overrides: `IntakeRoute` hands the request to FastAPI's own handler when any is set."""
    return {fastapi_handler_used: fastapi_handler_used}


async def both_answers(app: FastAPI, body: bytes | list[bytes], headers: dict[str, str]) -> tuple[Any, Any]:
    """The answer of `IntakeRoute`'s handler, then FastAPI's."""
    ours = await answer(app, body, headers)
    app.dependency_overrides = fastapi_handler_used()
    try:
        return ours, await answer(app, body, headers)
    finally:
        app.dependency_overrides = {}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies(), content_type=CONTENT_TYPES, credentials=CREDENTIALS, key=st.none() | st.text(max_size=5))
def test_every_request_is_answered_as_fastapi_answers_it(
    orders_app: FastAPI, body: bytes, content_type: str | None, credentials: dict[str, str], key: str | None
) -> None:
    headers = {"X-Correlation-Id": uuid.uuid4().hex, **credentials}
    if content_type is not None:
        headers["Content-Type"] = content_type
    if key is not None and key.isascii() and key.isprintable():
        headers["Idempotency-Key"] = key
    ours, fastapis = asyncio.run(both_answers(orders_app, body, headers))
    assert ours == fastapis


async def test_a_body_over_the_limit_sent_chunked_is_a_413_as_before(orders_app: FastAPI) -> None:
    headers = {"X-Correlation-Id": "over", **bearer(), "Content-Type": "application/json"}
    ours, fastapis = await both_answers(orders_app, [b"[" + b"1," * 100_000] * 6 + [b"1]"], headers)
    assert ours == fastapis
    assert ours[0] == 413


async def test_post_orders_is_served_without_fastapis_dependency_solver(
    orders_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    solved: list[str] = []
    solve = fastapi.routing.solve_dependencies

    async def counted(**arguments: Any) -> Any:
        solved.append(arguments["request"].url.path)
        return await solve(**arguments)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counted)
    status, _, _ = await answer(
        orders_app, json.dumps(VALID).encode(), {**bearer(), "Content-Type": "application/json"}
    )
    assert status == 201
    assert solved == []
    orders_app.dependency_overrides = fastapi_handler_used()
    await answer(orders_app, json.dumps(VALID).encode(), {**bearer(), "Content-Type": "application/json"})
    assert solved == ["/orders"]


async def test_a_route_included_through_a_router_is_left_to_fastapi(monkeypatch: pytest.MonkeyPatch) -> None:
    """The inclusion's dependencies (here a refusal) are FastAPI's to run: `IntakeRoute` serves a route on the app's
    router only (FastAPI 0.16x builds the app of an included route itself, from FastAPI's handler)."""
    solved: list[str] = []
    solve = fastapi.routing.solve_dependencies

    async def counted(**arguments: Any) -> Any:
        solved.append(arguments["request"].url.path)
        return await solve(**arguments)

    async def refused(request: Request) -> None:
        raise HTTPException(403, "refused by the inclusion")

    async def placed(body: OrderIn, request: Request) -> Response:
        return Response(b"placed", 201)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counted)
    router = APIRouter(route_class=IntakeRoute)
    router.add_api_route("/included", placed, methods=["POST"], status_code=201)
    app = FastAPI()
    app.include_router(router, dependencies=[Depends(refused)])
    app.router.add_api_route("/direct", placed, methods=["POST"], status_code=201, route_class_override=IntakeRoute)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://orders") as client:
        included = await client.post("/included", json=VALID)
        direct = await client.post("/direct", json=VALID)
    assert (included.status_code, included.json()) == (403, {"detail": "refused by the inclusion"})
    assert direct.status_code == 201
    assert solved == ["/included"]
