"""POST /orders' request handler: FastAPI's steps for that one route, in FastAPI's order and with its answers, without
FastAPI's generic dependency solver, which cost the route more CPU than any other part of its HTTP layer."""

from __future__ import annotations

import email.message
import inspect
import json
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import request_body_to_args
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic_core import PydanticUndefined
from starlette.exceptions import HTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from dropship_shared.tracing import tracing_enabled

RequestCheck = Callable[[Request], Awaitable[Any]]
Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class IntakeRoute(APIRoute):
    """A route documented, matched and wrapped as any other, whose handler does what FastAPI's does for its shape
    (an async endpoint taking a JSON body model and the `Request`, behind the routers' dependencies that take the
    request alone: the authorization), in the same order: the body read and parsed (a JSON error is a 422, any
    other a 400), the dependencies, the body validated (FastAPI's own validation, its 422 errors), the endpoint.
    It is the route's ASGI app itself, without FastAPI's request wrapper (`request_response`: two exit stacks for
    dependencies with yield, which this shape has none of, and the app's exception handlers, which the app's
    `ExceptionMiddleware` applies alike a layer out). FastAPI's handler in FastAPI's wrapper serves any other
    shape, FastAPI's telemetry (tracing on), dependency overrides (tests), FastAPI's own body size limit (its
    errors are private to it; the services limit bodies at their edge) and the route included through a router
    (FastAPI builds an inclusion's app itself, with the inclusion's dependencies)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        super().__init__(path, endpoint, **options)
        own = self._own_handler()
        if own is not None and self.max_body_size is None:
            self.app = _served(own, self.app, self.dependency_overrides_provider)

    def _own_handler(self) -> Handler | None:
        checks = _request_checks(self.dependant)
        if checks is None or tracing_enabled() or self._embed_body_fields:
            return None
        endpoint: Callable[..., Awaitable[Response]] = self.endpoint
        body_fields, body_name = self.dependant.body_params, self.dependant.body_params[0].name
        request_name = str(self.dependant.request_param_name)
        strict = self.strict_content_type
        strict_content_type = bool(strict.value if isinstance(strict, DefaultPlaceholder) else strict)

        async def handle(request: Request) -> Response:
            body = await _request_body(request, strict_content_type)
            for check in checks:
                await check(request)
            values, errors = await request_body_to_args(body_fields, body, embed_body_fields=False)
            if errors:
                raise RequestValidationError(errors, body=None if body is PydanticUndefined else body)
            return await endpoint(**{body_name: values[body_name], request_name: request})

        return handle


def _served(handle: Handler, fastapi_app: ASGIApp, overrides_provider: Any) -> ASGIApp:
    """The route's app: `handle`'s answer, or FastAPI's app of the route under FastAPI's body size limit or
    dependency overrides."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if MAX_BODY_SIZE_SCOPE_KEY in scope or getattr(overrides_provider, "dependency_overrides", None):
            await fastapi_app(scope, receive, send)
            return
        response = await handle(Request(scope, receive, send))
        await response(scope, receive, send)

    return app


def _request_checks(dependant: Dependant) -> list[RequestCheck] | None:
    """The dependencies' calls when the route has the shape `IntakeRoute` serves; None otherwise."""
    own_parameters = (
        dependant.path_params,
        dependant.query_params,
        dependant.header_params,
        dependant.cookie_params,
    )
    if (
        any(own_parameters)
        or len(dependant.body_params) != 1
        or dependant.request_param_name is None
        or not _is_coroutine(dependant.call)
        or _takes_more_than_the_request(dependant)
    ):
        return None
    checks = []
    for sub in dependant.dependencies:
        if sub.call is None or not _is_coroutine(sub.call) or sub.dependencies or sub.name is not None:
            return None
        if sub.body_params or any((sub.path_params, sub.query_params, sub.header_params, sub.cookie_params)):
            return None
        if sub.request_param_name is None or _takes_more_than_the_request(sub):
            return None
        checks.append(sub.call)
    return checks


def _is_coroutine(call: Callable[..., Any] | None) -> bool:
    """An async function, or an object whose `__call__` is one (not a generator: no teardown to run)."""
    return inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(type(call).__call__)


def _takes_more_than_the_request(dependant: Dependant) -> bool:
    return any(
        (
            dependant.http_connection_param_name,
            dependant.websocket_param_name,
            dependant.background_tasks_param_name,
            dependant.response_param_name,
            dependant.security_scopes_param_name,
        )
    )


async def _request_body(request: Request, strict_content_type: bool) -> Any:
    """The body as FastAPI's handler reads it: parsed JSON when the content type says JSON (or none is given and
    the route is not strict), else the bytes; nothing (undefined) when empty. An HTTP error raised while reading
    (the edge's body limit: `BodyTooLarge`) goes on as it is."""
    try:
        body_bytes = await request.body()
        if not body_bytes:
            return PydanticUndefined
        if _is_json(request.headers.get("content-type"), strict_content_type):
            return json.loads(body_bytes)  # what Request.json() does, without its second pass through body()
        return body_bytes
    except json.JSONDecodeError as exc:
        error = {"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error", "input": {}}
        raise RequestValidationError([{**error, "ctx": {"error": exc.msg}}], body=exc.doc) from exc
    except HTTPException:
        raise
    except Exception as exc:
        raise HTTPException(status_code=400, detail="There was an error parsing the body") from exc


def _is_json(content_type: str | None, strict_content_type: bool) -> bool:
    if content_type == "application/json":
        return True
    if not content_type:
        return not strict_content_type
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))
