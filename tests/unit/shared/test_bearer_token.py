"""The authorization dependency reads the bearer token exactly as FastAPI's HTTPBearer(auto_error=False) did."""

from __future__ import annotations

import pytest
from fastapi.security import HTTPBearer
from starlette.requests import Request

from dropship_shared.auth import bearer_token

HEADERS = [
    None,
    "",
    "Bearer",
    "Bearer ",
    "Bearer abc.def.ghi",
    "bearer abc",
    "BEARER abc",
    "Basic dXNlcjpwYXNz",
    "Token abc",
    "Bearer  two  spaces",
    " Bearer abc",
    "Bearerabc",
]


def request_with(authorization: str | None) -> Request:
    headers = [] if authorization is None else [(b"authorization", authorization.encode())]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers})


@pytest.mark.parametrize("authorization", HEADERS)
async def test_the_token_read_is_httpbearers(authorization: str | None) -> None:
    credentials = await HTTPBearer(auto_error=False)(request_with(authorization))
    assert bearer_token(request_with(authorization)) == (credentials.credentials if credentials else None)
