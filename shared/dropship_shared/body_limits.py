"""Bounded request bodies: bytes are counted as they arrive (chunked or not), with a limit per route.

Pure ASGI, in front of everything else: a body over its route's limit is refused with a 413 problem as soon as
its Content-Length says so, or as soon as the bytes received pass the limit, before anything parses it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dropship_shared.problems import problem_response


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, detail=f"the request body is over this operation's limit of {limit} bytes")
        self.limit = limit


class BodyLimitMiddleware:
    """`default` bytes for any request; `routes` maps "METHOD /path/{template}" to a route's own limit."""

    def __init__(self, app: ASGIApp, default: int, routes: Mapping[str, int]) -> None:
        self._app = app
        self._default = default
        self._routes = [(*_route_pattern(key), limit) for key, limit in routes.items()]

    def limit_of(self, method: str, path: str) -> int:
        for route_method, pattern, limit in self._routes:
            if method == route_method and pattern.fullmatch(path):
                return limit
        return self._default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        limit = self.limit_of(scope["method"], scope["path"])
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _refuse(BodyTooLarge(limit), scope, receive, send)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._app(scope, counted_receive, tracked_send)
        except BodyTooLarge as exc:
            if started:
                raise
            await _refuse(exc, scope, receive, send)


async def _refuse(exc: BodyTooLarge, scope: Scope, receive: Receive, send: Send) -> None:
    response = problem_response(exc.status_code, exc.detail, instance=scope["path"], headers={"Connection": "close"})
    await response(scope, receive, send)


def _route_pattern(key: str) -> tuple[str, re.Pattern[str]]:
    method, template = key.split(" ", 1)
    return method.upper(), re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)))


def install_body_limits(app: FastAPI, default: int, routes: Mapping[str, int] | None = None) -> None:
    """Limits every body of `app` to `default` bytes, or to the limit `routes` gives its "METHOD /path"."""
    app.add_middleware(BodyLimitMiddleware, default=default, routes=dict(routes or {}))
