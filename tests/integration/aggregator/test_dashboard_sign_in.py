"""Signing in to the dashboard: OIDC authorization code with PKCE against a provider served over real HTTP, the
session in an encrypted HttpOnly SameSite cookie, CSRF on every change, a strict CSP, and a development sign-in."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import RedirectResponse

from aggregator.bootstrap import MIGRATIONS, create_app
from aggregator.config import AggregatorSettings
from dropship_shared.migrations import upgrade_to_head
from support.servers import run_uvicorn_app
from support.tokens import IDENTITY, bearer

CLIENT_ID = "dashboard"


class Provider:
    """An OIDC provider double: remembers each code's PKCE challenge and refuses an exchange that does not match."""

    def __init__(self) -> None:
        self.roles = ("operations",)
        self.challenges: dict[str, tuple[str, str]] = {}
        self.app = FastAPI()
        self.app.get("/authorize")(self.authorize)
        self.app.post("/token")(self.token)

    async def authorize(self, request: Request) -> RedirectResponse:
        query = request.query_params
        if query["response_type"] != "code" or query["code_challenge_method"] != "S256":
            raise HTTPException(400, detail="PKCE S256 authorization code flow only")
        assert query["client_id"] == CLIENT_ID and "openid" in query["scope"].split()
        code = secrets.token_urlsafe(12)
        self.challenges[code] = (query["code_challenge"], query["redirect_uri"])
        answer = urlencode({"code": code, "state": query["state"]})
        return RedirectResponse(f"{query['redirect_uri']}?{answer}", status_code=302)

    async def token(self, request: Request) -> dict[str, Any]:
        form = {name: values[0] for name, values in parse_qs((await request.body()).decode()).items()}
        challenge, redirect_uri = self.challenges.pop(form["code"], ("", ""))
        digest = hashlib.sha256(form["code_verifier"].encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != challenge or form["redirect_uri"] != redirect_uri:
            raise HTTPException(400, detail="invalid_grant")
        return {"access_token": IDENTITY.token(*self.roles, subject="olga"), "token_type": "Bearer"}


@pytest.fixture
def provider() -> Iterator[tuple[Provider, str]]:
    double = Provider()
    with run_uvicorn_app(double.app) as url:
        yield double, url


async def dashboard(tmp_path: Path, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    url = f"sqlite+aiosqlite:///{tmp_path}/aggregator.db"
    await asyncio.to_thread(upgrade_to_head, str(MIGRATIONS), url)
    app = create_app(AggregatorSettings(database_url=url, log_json=False, dashboard_session_key="k" * 40, **settings))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://aggregator") as http:
        assert (await http.put("/suppliers/acme", json={"name": "ACME"}, headers=bearer("admin"))).is_success
        yield http
    await app.state.runtime.engine.dispose()


@pytest.fixture
async def with_provider(tmp_path: Path, provider: tuple[Provider, str]) -> AsyncIterator[httpx.AsyncClient]:
    _, url = provider
    async for http in dashboard(
        tmp_path, oidc_authorization_url=f"{url}/authorize", oidc_token_url=f"{url}/token", oidc_client_id=CLIENT_ID
    ):
        yield http


async def sign_in(http: httpx.AsyncClient) -> httpx.Response:
    """Follow the browser's way: us → provider → our callback."""
    to_provider = await http.get("/dashboard/sign-in")
    assert to_provider.status_code == 302
    back = httpx.get(to_provider.headers["location"])  # the provider signs the user in at once
    assert back.status_code == 302, back.text
    callback = urlsplit(back.headers["location"])
    return await http.get(f"{callback.path}?{callback.query}")


def csrf_of(page: str) -> str:
    return page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]


async def test_signing_in_with_the_provider_gives_a_session_cookie_the_api_accepts(
    with_provider: httpx.AsyncClient,
) -> None:
    http = with_provider
    signed_out = await http.get("/dashboard")
    assert "Sign in with your company account" in signed_out.text and "csrf-token" not in signed_out.text
    assert (await http.get("/suppliers")).status_code == 401

    answer = await sign_in(http)
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard"
    cookie = answer.headers["set-cookie"].lower()
    assert "dropship_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert "olga" not in cookie  # encrypted, not just signed

    page = await http.get("/dashboard")
    assert "Drop-ship operations" in page.text and "olga" in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    assert [s["supplier_id"] for s in (await http.get("/suppliers")).json()] == ["acme"]

    refused = await http.post("/suppliers/acme/hold")
    assert refused.status_code == 403 and "X-CSRF-Token" in refused.json()["detail"]
    assert (await http.post("/suppliers/acme/hold", headers={"X-CSRF-Token": "guess"})).status_code == 403
    assert (await http.get("/suppliers/acme")).json()["held"] is False
    held = await http.post("/suppliers/acme/hold", headers={"X-CSRF-Token": csrf_of(page.text)})
    assert held.status_code == 200 and held.json()["held"] is True

    assert (await http.post("/dashboard/sign-out", headers={"X-CSRF-Token": csrf_of(page.text)})).status_code == 303
    assert (await http.get("/suppliers")).status_code == 401


async def test_a_sign_in_with_a_forged_state_or_without_the_role_gets_no_session(
    with_provider: httpx.AsyncClient, provider: tuple[Provider, str]
) -> None:
    http = with_provider
    to_provider = await http.get("/dashboard/sign-in")
    back = httpx.get(to_provider.headers["location"])
    callback = urlsplit(back.headers["location"])
    forged = await http.get(f"{callback.path}?code={parse_qs(callback.query)['code'][0]}&state=forged")
    assert forged.status_code == 400 and "dropship_session" not in forged.headers.get("set-cookie", "")

    provider[0].roles = ("storefront",)
    refused = await sign_in(http)
    assert refused.status_code == 403 and "no operations role" in refused.text
    assert (await http.get("/suppliers")).status_code == 401


async def test_a_tampered_session_cookie_is_ignored(with_provider: httpx.AsyncClient) -> None:
    http = with_provider
    await sign_in(http)
    value = http.cookies["dropship_session"]
    http.cookies.set("dropship_session", value[:-4] + ("AAAA" if not value.endswith("AAAA") else "BBBB"))
    assert (await http.get("/suppliers")).status_code == 401


async def test_the_development_sign_in_works_only_where_it_is_switched_on(tmp_path: Path) -> None:
    async for http in dashboard(tmp_path / "off"):
        assert "Development sign-in" not in (await http.get("/dashboard")).text
        assert (await http.post("/dashboard/dev-sign-in")).status_code == 404
    async for http in dashboard(tmp_path / "on", dashboard_dev_sign_in=True):
        assert "Development sign-in" in (await http.get("/dashboard")).text
        assert (await http.post("/dashboard/dev-sign-in")).status_code == 303
        assert "dev-operator" in (await http.get("/dashboard")).text
        assert (await http.get("/suppliers/acme")).status_code == 200


async def test_the_page_runs_no_inline_script_and_escapes_what_it_shows(tmp_path: Path) -> None:
    async for http in dashboard(tmp_path, dashboard_dev_sign_in=True):
        await http.post("/dashboard/dev-sign-in")
        page = (await http.get("/dashboard")).text
        script = (await http.get("/dashboard/static/dashboard.js")).text
    assert "<script>" not in page and "onclick" not in page and "style=" not in page
    assert "onclick" not in script and "style=" not in script
    # values reach the page as text nodes: no markup is ever made from strings
    assert not re.search(r"(innerHTML|outerHTML)\s*=[^=]|insertAdjacentHTML|document\.write", script)
