"""The aggregator API's edges on each engine: bounded pagination, supplier ids that cannot carry script, policies
without loose numbers, all refused as problems; the dashboard keeps data out of script."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from aggregator.bootstrap import MIGRATIONS, create_app
from aggregator.config import AggregatorSettings
from aggregator.entrypoints.dashboard import PAGE, STATIC
from dropship_shared.migrations import upgrade_to_head
from dropship_shared.problems import PROBLEM_MEDIA_TYPE
from support.tokens import bearer

GOOD: dict[str, Any] = {"min_units": 10, "max_wait_seconds": 3600}


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The app over ASGI on a migrated database (no broker: these calls need none)."""
    await asyncio.to_thread(upgrade_to_head, str(MIGRATIONS), database_url)
    app = create_app(AggregatorSettings(database_url=database_url, log_json=False))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://aggregator", headers=bearer()
    ) as http:
        (await http.put("/suppliers/acme", json={"name": "ACME"})).raise_for_status()
        yield http
    await app.state.runtime.engine.dispose()


def refused(response: httpx.Response, status: int = 422) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("offset", ["9223372036854775808", "1000001", "-1"])
async def test_pagination_is_bounded(api: httpx.AsyncClient, offset: str) -> None:
    assert refused(await api.get("/purchase-orders", params={"offset": offset}))["errors"][0]["loc"] == [
        "query",
        "offset",
    ]
    assert (await api.get("/purchase-orders", params={"offset": "1000000"})).json() == []


@pytest.mark.parametrize("supplier_id", ["x');alert(1);('", "<script>", "a b", "a%00"])
async def test_a_supplier_id_that_could_carry_script_is_refused(api: httpx.AsyncClient, supplier_id: str) -> None:
    refused(await api.put(f"/suppliers/{supplier_id}", json={"name": "x"}))
    assert [s["supplier_id"] for s in (await api.get("/suppliers")).json()] == ["acme"]


@pytest.mark.parametrize(
    ("policy", "field"),
    [
        ({**GOOD, "min_units": "10"}, "min_units"),
        ({**GOOD, "min_units": True}, "min_units"),
        ({**GOOD, "max_wait_seconds": 3600.5}, "max_wait_seconds"),
        ({**GOOD, "sku_rules": {"X": {"min_qty": False}}}, "min_qty"),
        ({**GOOD, "sku_rules": {"X": {"case_pack": 10**12}}}, "case_pack"),
        ({**GOOD, "sku_rules": {"X\u0000": {}}}, "sku_rules"),
        ({**GOOD, "min_value": "1e14"}, "min_value"),
        ({**GOOD, "cutoff": {"local_time": "15:00", "time_zone": "UTC\u0000"}}, "time_zone"),
    ],
)
async def test_loose_or_unstorable_policy_input_is_refused(
    api: httpx.AsyncClient, policy: dict[str, Any], field: str
) -> None:
    body = refused(await api.put("/suppliers/acme/policy", json=policy))
    assert field in body["errors"][0]["loc"]
    refused(await api.get("/suppliers/acme/policy"), 404)


@pytest.mark.parametrize("raw", [b'{"min_units": 1, "max_wait_seconds": NaN}', b'{"min_value": Infinity}'])
async def test_non_finite_numbers_are_refused(api: httpx.AsyncClient, raw: bytes) -> None:
    refused(await api.put("/suppliers/acme/policy", content=raw, headers={"Content-Type": "application/json"}))


async def test_an_oversized_policy_is_refused_as_it_arrives(api: httpx.AsyncClient) -> None:
    async def chunked() -> AsyncIterator[bytes]:
        yield b'{"max_wait_seconds": 60, "sku_rules": {'
        for n in range(200_000):
            yield b'"SKU-%d": {"min_qty": 1},' % n
        yield b'"LAST": {}}}'

    refused(await api.put("/suppliers/acme/policy", content=chunked()), 413)


def test_the_dashboard_puts_no_data_into_script() -> None:
    page = PAGE.read_text(encoding="utf-8") + (STATIC / "dashboard.js").read_text(encoding="utf-8")
    assert not re.search(r"\son[a-z]+\s*=", page), "an inline event handler would put data into script"
    # data reaches the page as text nodes only: no markup is ever built from strings
    assert not re.search(r"(innerHTML|outerHTML)\s*=[^=]|insertAdjacentHTML|document\.write", page)
