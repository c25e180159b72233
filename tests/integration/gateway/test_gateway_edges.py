"""The gateway API's edges on each engine: supplier registrations without loose numbers or unstorable text, and
supplier documents bounded by their own limits as the bytes arrive, all refused as problems."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from dropship_shared.migrations import upgrade_to_head
from dropship_shared.problems import PROBLEM_MEDIA_TYPE
from supplier_gateway.bootstrap import MAX_BODY_BYTES, MIGRATIONS, create_app
from supplier_gateway.config import GatewaySettings
from supplier_gateway.entrypoints import callbacks_api
from support.tokens import bearer

SUPPLIER: dict[str, Any] = {"protocol": "http", "base_url": "http://supplier.example", "signing_secret": "s" * 16}


@pytest.fixture
async def gateway(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The app over ASGI on a migrated database (no broker: these calls need none)."""
    await asyncio.to_thread(upgrade_to_head, str(MIGRATIONS), database_url)
    app = create_app(GatewaySettings(database_url=database_url, log_json=False))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway", headers=bearer()
    ) as http:
        yield http
    await app.state.runtime.engine.dispose()


def refused(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize(
    ("supplier", "field"),
    [
        ({**SUPPLIER, "requests_per_second": "10"}, "requests_per_second"),
        ({**SUPPLIER, "requests_per_second": True}, "requests_per_second"),
        ({**SUPPLIER, "polling": 1}, "polling"),
        ({**SUPPLIER, "signing_secret": "s" * 16 + "\u0000"}, "signing_secret"),
        ({**SUPPLIER, "name": "ACME\u0000"}, "name"),
    ],
)
async def test_loose_or_unstorable_supplier_input_is_refused(
    gateway: httpx.AsyncClient, supplier: dict[str, Any], field: str
) -> None:
    assert field in refused(await gateway.put("/suppliers/acme", json=supplier), 422)["errors"][0]["loc"]
    refused(await gateway.get("/suppliers/acme"), 404)


@pytest.mark.parametrize("raw", [b"NaN", b"Infinity", b"1e400"])
async def test_non_finite_rates_are_refused(gateway: httpx.AsyncClient, raw: bytes) -> None:
    body = b'{"protocol": "http", "base_url": "http://s.example", "signing_secret": "ssssssssssssssss", '
    response = await gateway.put(
        "/suppliers/acme",
        content=body + b'"requests_per_second": ' + raw + b"}",
        headers={"Content-Type": "application/json"},
    )
    refused(response, 422)


async def chunks(total: int) -> AsyncIterator[bytes]:
    """`total` bytes sent chunked (no Content-Length)."""
    piece = b"x" * 65_536
    for _ in range(total // len(piece) + 1):
        yield piece


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        ("/suppliers/acme/callbacks", callbacks_api.MAX_BODY_BYTES),
        ("/suppliers/acme/edi", GatewaySettings().edi_max_body_bytes),
    ],
)
async def test_supplier_documents_have_their_own_limits(gateway: httpx.AsyncClient, path: str, limit: int) -> None:
    assert limit > MAX_BODY_BYTES
    refused(await gateway.post(path, content=chunks(limit)), 413)
    refused(await gateway.post(path, content=chunks(2 * MAX_BODY_BYTES)), 404)  # read whole: the supplier is unknown
    refused(await gateway.put("/suppliers/acme", content=chunks(MAX_BODY_BYTES)), 413)
