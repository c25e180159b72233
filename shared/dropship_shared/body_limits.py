"""Bounded request bodies: bytes are counted as they arrive (chunked or not), with a limit per route.

Counted in the service's edge (`web.ServiceEdge`, plain ASGI in front of the app): a body over its route's limit is
refused with a 413 problem as soon as its Content-Length says so, or as soon as the bytes received pass the limit,
before anything parses it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

from dropship_shared.problems import problem_response


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, detail=f"the request body is over this operation's limit of {limit} bytes")
        self.limit = limit


class BodyLimits:
    """The bytes a request body may have: none set, no limit. Counted by the service's edge (`web.ServiceEdge`),
    set by `install_body_limits` once the app is built."""

    def __init__(self) -> None:
        self.default: int | None = None
        self._routes: list[tuple[str, re.Pattern[str], int]] = []

    def set(self, default: int, routes: Mapping[str, int]) -> None:
        """`default` bytes for any request; `routes` maps "METHOD /path/{template}" to a route's own limit."""
        self.default = default
        self._routes = [(*_route_pattern(key), limit) for key, limit in routes.items()]

    def limit_of(self, method: str, path: str) -> int | None:
        for route_method, pattern, limit in self._routes:
            if method == route_method and pattern.fullmatch(path):
                return limit
        return self.default


async def refuse_too_large(exc: BodyTooLarge, scope: Scope, receive: Receive, send: Send) -> None:
    response = problem_response(exc.status_code, exc.detail, instance=scope["path"], headers={"Connection": "close"})
    await response(scope, receive, send)


def _route_pattern(key: str) -> tuple[str, re.Pattern[str]]:
    method, template = key.split(" ", 1)
    return method.upper(), re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)))


def install_body_limits(app: FastAPI, default: int, routes: Mapping[str, int] | None = None) -> None:
    """Limits every body of `app` to `default` bytes, or to the limit `routes` gives its "METHOD /path"; counted by
    the edge `web.install_operational_routes` put in front of the app."""
    limits: BodyLimits | None = getattr(app.state, "body_limits", None)
    if limits is None:
        raise RuntimeError("install_operational_routes first: its edge counts the bodies")
    limits.set(default, routes or {})
