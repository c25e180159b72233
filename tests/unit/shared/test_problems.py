"""The shared HTTP edges on a small app: every error is a bounded, valid problem+json answer, never a 500;
bodies are counted as they arrive; the OpenAPI document says so."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, HTTPException, Path
from pydantic import Field

from dropship_shared.body_limits import install_body_limits
from dropship_shared.inputs import NO_NUL, Amount, StrictBody, Text
from dropship_shared.problems import PROBLEM_MEDIA_TYPE, problem_responses
from dropship_shared.web import install_operational_routes

DEFAULT_LIMIT = 50_000
BIG_LIMIT = 20_000_000


class ThingIn(StrictBody):
    name: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    quantity: int = Field(default=1, gt=0, le=10_000)
    ratio: float = Field(default=1.0, ge=0)
    price: Amount = Field(default=0)
    fragile: bool = False
    tags: list[Text] = Field(default_factory=list, max_length=10)


def make_app() -> FastAPI:
    async def ready() -> dict[str, bool]:
        return {"database": True}

    app = FastAPI()
    router = APIRouter()

    @router.post("/things", responses=problem_responses(409))
    async def post_thing(thing: ThingIn) -> ThingIn:
        if thing.name == "taken":
            raise HTTPException(409, detail="taken")
        return thing

    @router.post("/bulk")
    async def post_bulk(things: list[ThingIn]) -> dict[str, int]:
        return {"count": len(things)}

    @router.get("/things/{name}", responses=problem_responses(404))
    async def get_thing(name: Annotated[str, Path(max_length=64)]) -> ThingIn:
        if name == "boom":
            raise RuntimeError("an unexpected failure")
        raise HTTPException(404, detail=f"no thing {name!r}")

    install_operational_routes(app, ready)
    app.include_router(router)
    install_body_limits(app, DEFAULT_LIMIT, {"POST /bulk": BIG_LIMIT})
    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://edges") as http:
        yield http


def strict_json(response: httpx.Response) -> dict[str, Any]:
    """The body as JSON that any parser accepts: no NaN/Infinity, valid UTF-8 (no lone surrogates)."""

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in an answer")

    body: dict[str, Any] = json.loads(response.content.decode("utf-8", errors="strict"), parse_constant=refuse)
    return body


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = strict_json(response)
    assert body["status"] == status and body["title"] and isinstance(body["detail"], str)
    return body


def post_raw(client: httpx.AsyncClient, path: str, raw: bytes) -> Any:
    return client.post(path, content=raw, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"name": "a", "ratio": NaN}', "ratio"),
        (b'{"name": "a", "ratio": Infinity}', "ratio"),
        (b'{"name": "a", "ratio": -Infinity}', "ratio"),
        (b'{"name": "a", "ratio": 1e400}', "ratio"),
        (b'{"name": "a", "price": NaN}', "price"),
        (b'{"name": "a", "price": "Infinity"}', "price"),
        (b'{"name": "a", "price": 1e400}', "price"),
        (b'{"name": "a", "price": "100000000000000"}', "price"),
        (b'{"name": "a", "quantity": 1e400}', "quantity"),
        (b'{"name": "\\ud800"}', "name"),
        (b'{"name": "a", "tags": ["\\udfff"]}', "tags"),
        (b'{"name": "a\\u0000b"}', "name"),
        (b'{"name": "a", "tags": ["\\u0000"]}', "tags"),
        (b'{"name": "a", "quantity": "5"}', "quantity"),
        (b'{"name": "a", "quantity": true}', "quantity"),
        (b'{"name": "a", "quantity": 5.5}', "quantity"),
        (b'{"name": "a", "fragile": 0}', "fragile"),
        (b'{"name": "a", "surprise": 1}', "surprise"),
        (b'{"name": ', "body"),
    ],
)
async def test_refusals_are_valid_problems_naming_the_field(client: httpx.AsyncClient, raw: bytes, field: str) -> None:
    body = problem(await post_raw(client, "/things", raw), 422)
    assert body["error_count"] >= 1
    assert any(field in error["loc"] for error in body["errors"]), body


async def test_a_huge_refused_input_is_echoed_as_a_short_excerpt(client: httpx.AsyncClient) -> None:
    many = {"name": "a", "tags": ["x" * 100] * 100_000}
    response = await client.post("/bulk", json=[many, {"name": "b", "quantity": "many"}])
    body = problem(response, 422)
    assert len(response.content) < 10_000
    assert body["error_count"] == 2
    assert [error["loc"] for error in body["errors"]] == [["body", 0, "tags"], ["body", 1, "quantity"]]


async def test_every_error_is_a_problem(client: httpx.AsyncClient) -> None:
    assert problem(await client.get("/things/nope"), 404)["detail"] == "no thing 'nope'"
    assert problem(await client.post("/things", json={"name": "taken"}), 409)["detail"] == "taken"
    assert problem(await client.get("/things/boom"), 500)["detail"].startswith("the service failed")
    assert problem(await client.get("/things/" + "x" * 65), 422)["errors"][0]["loc"] == ["path", "name"]
    assert problem(await client.get("/nowhere"), 404)
    assert problem(await client.delete("/things"), 405)


@pytest.mark.parametrize("path", ["/things/a%00b", "/things/a?x=%00", "/healthz?q=%00"])
async def test_nul_in_the_url_is_refused(client: httpx.AsyncClient, path: str) -> None:
    problem(await client.get(path), 422)


async def chunks(total: int, size: int = 64_000) -> AsyncIterator[bytes]:
    """A body without Content-Length (sent chunked), `total` bytes of a JSON list."""
    yield b"["
    sent = 1
    while sent < total:
        piece = b'{"name": "x"},' * (size // 14)
        yield piece
        sent += len(piece)
    yield b'{"name": "x"}]'


async def test_bodies_are_counted_as_they_arrive_with_a_limit_per_route(client: httpx.AsyncClient) -> None:
    over = DEFAULT_LIMIT + 1
    problem(await post_raw(client, "/things", b" " * over), 413)
    problem(await client.post("/things", content=chunks(over), headers={"Content-Type": "application/json"}), 413)
    accepted = await client.post(
        "/bulk", content=chunks(10 * DEFAULT_LIMIT), headers={"Content-Type": "application/json"}
    )
    assert accepted.status_code == 200 and accepted.json()["count"] > 10_000
    problem(
        await client.post("/bulk", content=chunks(BIG_LIMIT + 1), headers={"Content-Type": "application/json"}), 413
    )


async def test_the_openapi_document_lists_every_error_as_a_problem(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    assert "Problem" in document["components"]["schemas"]
    assert "HTTPValidationError" not in document["components"]["schemas"]
    operations = {
        (method.upper(), path): operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }
    assert set(operations[("POST", "/things")]["responses"]) == {"200", "400", "409", "413", "422"}
    assert set(operations[("GET", "/things/{name}")]["responses"]) == {"200", "404", "422"}
    assert set(operations[("GET", "/readyz")]["responses"]) == {"200", "503"}
    for operation in operations.values():
        for status, response in operation["responses"].items():
            if status[0] in "45" and status != "503":
                assert list(response["content"]) == [PROBLEM_MEDIA_TYPE], (operation["operationId"], status)
