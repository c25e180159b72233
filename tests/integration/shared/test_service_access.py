"""Every service refuses calls without a good token (401) or without the role (403), as problem details with an
RFC 6750 challenge; health, metrics and the suppliers' signed endpoints stay open; every route has a rule; what
operators change is in the service's audit log with who did it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from aggregator.bootstrap import MIGRATIONS as AGGREGATOR_MIGRATIONS
from aggregator.bootstrap import create_app as create_aggregator
from aggregator.config import AggregatorSettings
from dev_identity import DevIdentity
from dropship_shared.auth import unruled_routes
from dropship_shared.migrations import upgrade_to_head
from orders.bootstrap import MIGRATIONS as ORDERS_MIGRATIONS
from orders.bootstrap import create_app as create_orders
from orders.config import OrdersSettings
from supplier_gateway.bootstrap import MIGRATIONS as GATEWAY_MIGRATIONS
from supplier_gateway.bootstrap import create_app as create_gateway
from supplier_gateway.config import GatewaySettings
from support.tokens import IDENTITY, bearer


@dataclass(frozen=True)
class Service:
    name: str
    create: Callable[[str], FastAPI]
    migrations: Path
    allowed: tuple[str, str, str]  # a method, path and a role that may call it
    refused_role: str  # a role that may not
    admin_change: tuple[str, str, Any, str, str]  # method, path, body; the action and target it is audited as


PRODUCT = {
    "sku": "CHAIR",
    "name": "Chair",
    "supplier_id": "acme",
    "supplier_sku": "A1",
    "price": "9",
    "cost": "4",
    "on_hand": 0,
}
GATEWAY_SUPPLIER = {"protocol": "http", "base_url": "http://127.0.0.1:9", "signing_secret": "s" * 16}

SERVICES = [
    Service(
        "orders",
        lambda url: create_orders(OrdersSettings(database_url=url, log_json=False)),
        ORDERS_MIGRATIONS,
        ("GET", "/metrics/backorders", "operations"),
        "storefront",
        ("PUT", "/products", [PRODUCT], "catalog.upsert", "1 products"),
    ),
    Service(
        "aggregator",
        lambda url: create_aggregator(AggregatorSettings(database_url=url, log_json=False)),
        AGGREGATOR_MIGRATIONS,
        ("GET", "/suppliers", "operations"),
        "storefront",
        ("PUT", "/suppliers/acme", {"name": "ACME"}, "supplier.register", "acme"),
    ),
    Service(
        "supplier-gateway",
        lambda url: create_gateway(GatewaySettings(database_url=url, log_json=False)),
        GATEWAY_MIGRATIONS,
        ("GET", "/suppliers", "admin"),
        "operations",
        ("PUT", "/suppliers/acme", GATEWAY_SUPPLIER, "supplier.register", "acme"),
    ),
]


@pytest.fixture(params=SERVICES, ids=[s.name for s in SERVICES])
async def service(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[Service, httpx.AsyncClient]]:
    """The service over ASGI on a migrated SQLite database (no broker needed for what these calls read)."""
    described: Service = request.param
    url = f"sqlite+aiosqlite:///{tmp_path}/{described.name}.db"
    await asyncio.to_thread(upgrade_to_head, str(described.migrations), url)
    app = described.create(url)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as http:
        yield described, http
    await app.state.runtime.dispose_engines()


def assert_refused(response: httpx.Response, status: int, detail: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert detail in problem["detail"]
    assert response.headers["www-authenticate"].startswith('Bearer realm="dropship"')


@pytest.mark.parametrize(
    ("token", "detail"),
    [
        (None, "needs a bearer token"),
        (IDENTITY.token("admin", "operations", ttl_seconds=-120), "expired"),
        (IDENTITY.token("admin", "operations", audience="another-api"), "audience"),
        (DevIdentity.generate().token("admin", "operations"), "signature"),
    ],
    ids=["no-token", "expired", "wrong-audience", "wrong-signature"],
)
async def test_without_a_good_token_a_protected_call_is_401(
    service: tuple[Service, httpx.AsyncClient], token: str | None, detail: str
) -> None:
    described, http = service
    method, path, _ = described.allowed
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await http.request(method, path, headers=headers)
    assert_refused(response, 401, detail)
    if token:
        assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_with_the_wrong_role_a_call_is_403_and_with_the_right_one_it_is_served(
    service: tuple[Service, httpx.AsyncClient],
) -> None:
    described, http = service
    method, path, role = described.allowed
    refused = await http.request(method, path, headers=bearer(described.refused_role))
    assert_refused(refused, 403, role)
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    assert (await http.request(method, path, headers=bearer(role))).status_code == 200


async def test_health_and_metrics_need_no_token(service: tuple[Service, httpx.AsyncClient]) -> None:
    _, http = service
    assert (await http.get("/healthz")).status_code == 200
    assert (await http.get("/metrics")).status_code == 200


async def test_every_route_has_an_access_rule(service: tuple[Service, httpx.AsyncClient]) -> None:
    _, http = service
    app = http._transport.app  # type: ignore[attr-defined]
    assert unruled_routes(app) == []


async def test_the_openapi_lists_the_refusals_of_protected_operations(
    service: tuple[Service, httpx.AsyncClient],
) -> None:
    described, http = service
    method, path, _ = described.allowed
    paths = (await http.get("/openapi.json")).json()["paths"]
    protected = paths[path][method.lower()]["responses"]
    assert {"401", "403"} <= set(protected)
    assert "application/problem+json" in protected["401"]["content"]


async def test_dead_letters_are_for_operations_only(service: tuple[Service, httpx.AsyncClient]) -> None:
    _, http = service
    assert_refused(await http.get("/admin/dead-letters", headers=bearer("storefront")), 403, "operations")
    assert_refused(await http.post("/admin/dead-letters/replay"), 401, "bearer token")


async def test_a_service_without_configured_keys_refuses_every_protected_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AUTH_PUBLIC_KEYS")
    app = create_orders(OrdersSettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/o.db", log_json=False))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://orders") as http:
        assert_refused(await http.get("/orders/X", headers=bearer()), 401, "no token issuer")
    await app.state.runtime.dispose_engines()


async def test_the_suppliers_signed_endpoints_are_judged_by_their_signature_not_a_token(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/gateway.db"
    await asyncio.to_thread(upgrade_to_head, str(GATEWAY_MIGRATIONS), url)
    app = create_gateway(GatewaySettings(database_url=url, log_json=False))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as http:
        for path in ("/suppliers/acme/callbacks", "/suppliers/acme/callbacks/shipment", "/suppliers/acme/edi"):
            response = await http.post(path, content=b"{}")
            assert response.status_code == 404, path  # unknown supplier: it got past access control to the check
            assert "www-authenticate" not in response.headers
    await app.state.runtime.dispose_engines()


async def test_an_admin_change_is_in_the_audit_log_with_who_made_it(service: tuple[Service, httpx.AsyncClient]) -> None:
    described, http = service
    method, path, body, action, target = described.admin_change
    assert (await http.request(method, path, json=body, headers=bearer("admin", subject="ada"))).is_success
    [entry] = (await http.get("/admin/audit", headers=bearer("operations"))).json()
    assert (entry["subject"], entry["action"], entry["target"]) == ("ada", action, target)
    assert "secret" not in str(entry["details"])
    assert_refused(await http.get("/admin/audit", headers=bearer("storefront")), 403, "operations")


async def test_operator_commands_are_audited_in_order(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/aggregator.db"
    await asyncio.to_thread(upgrade_to_head, str(AGGREGATOR_MIGRATIONS), url)
    app = create_aggregator(AggregatorSettings(database_url=url, log_json=False))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://aggregator") as http:
        await http.put("/suppliers/acme", json={"name": "ACME"}, headers=bearer("admin", subject="ada"))
        policy = {"min_units": 5, "max_wait_seconds": 60}
        await http.put("/suppliers/acme/policy", json=policy, headers=bearer("admin", subject="ada"))
        for command in ("hold", "resume", "release"):
            answer = await http.post(f"/suppliers/acme/{command}", headers=bearer("operations", subject="otto"))
            assert answer.status_code == 200, answer.text
        assert (await http.post("/suppliers/nobody/hold", headers=bearer("operations"))).status_code == 404
        log = (await http.get("/admin/audit", headers=bearer("operations"))).json()
    await app.state.runtime.dispose_engines()
    assert [(e["subject"], e["action"]) for e in reversed(log)] == [
        ("ada", "supplier.register"),
        ("ada", "policy.change"),
        ("otto", "batch.hold"),
        ("otto", "batch.resume"),
        ("otto", "batch.release"),
    ]
    assert log[3]["details"]["version"] == 1 and log[3]["details"]["policy"]["min_units"] == 5
