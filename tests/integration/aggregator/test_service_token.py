"""The aggregator's own token for the other services: fetched with the OAuth2 client-credentials grant from the
identity provider's token endpoint, reused until shortly before it expires, or configured as is."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs

import httpx
import pytest
from fastapi import FastAPI, HTTPException, Request

from aggregator.adapters.service_token import ServiceCredentials
from support.servers import run_uvicorn_app
from support.tokens import IDENTITY

CLIENT = ("aggregator", "s3cret-client-secret")


def token_endpoint(issued: list[str]) -> FastAPI:
    """A client-credentials token endpoint like Keycloak's or Auth0's (client authenticated with HTTP Basic)."""
    app = FastAPI()

    @app.post("/token")
    async def token(request: Request) -> dict[str, object]:
        form = {name: values[0] for name, values in parse_qs((await request.body()).decode()).items()}
        expected = "Basic " + base64.b64encode(":".join(CLIENT).encode()).decode()
        if form.get("grant_type") != "client_credentials" or request.headers.get("authorization") != expected:
            raise HTTPException(401, detail="invalid_client")
        issued.append(IDENTITY.token(*form["scope"].split(), subject=CLIENT[0]))
        return {"access_token": issued[-1], "token_type": "Bearer", "expires_in": 3600}

    return app


async def test_the_token_is_fetched_once_with_client_credentials_and_reused() -> None:
    issued: list[str] = []
    with run_uvicorn_app(token_endpoint(issued)) as url:
        credentials = ServiceCredentials(
            token_url=f"{url}/token", client_id=CLIENT[0], client_secret=CLIENT[1], scope="operations"
        )
        first = await credentials.headers()
        second = await credentials.headers()
    assert len(issued) == 1
    assert first == second == {"Authorization": f"Bearer {issued[0]}"}


async def test_a_refused_client_gets_no_token() -> None:
    with run_uvicorn_app(token_endpoint([])) as url:
        credentials = ServiceCredentials(token_url=f"{url}/token", client_id=CLIENT[0], client_secret="wrong")
        with pytest.raises(httpx.HTTPStatusError):
            await credentials.headers()


async def test_a_configured_token_is_used_as_is_and_none_means_no_header() -> None:
    assert await ServiceCredentials(token="abc").headers() == {"Authorization": "Bearer abc"}
    assert await ServiceCredentials().headers() == {}
