"""RFC 9457 problem details: the one error shape every service answers with, and its OpenAPI description.

Every error leaves as `application/problem+json`. The handlers here never fail: whatever the request held
(non-finite numbers, lone surrogates, NUL, a five-million-element array), they echo at most a short,
printable excerpt of it, so an error answer is always small and always valid JSON.
"""

from __future__ import annotations

import http
import json
import math
import reprlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

PROBLEM_MEDIA_TYPE = "application/problem+json"
MAX_ERRORS = 20  # field errors listed in one answer; the count says how many there were
MAX_TEXT = 300  # characters of any one message or name echoed back
_log = structlog.get_logger(__name__)


class FieldProblem(BaseModel):
    """One reason a request was refused, and where in the request it was found."""

    model_config = ConfigDict(extra="allow")
    loc: list[str | int] = Field(description="where: body/query/path/header, then field names and indexes")
    msg: str
    type: str
    input: str | None = Field(default=None, description="a short excerpt of the refused value")


class Problem(BaseModel):
    """An error answer (RFC 9457); validation errors list the fields in `errors`."""

    model_config = ConfigDict(extra="allow")
    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldProblem] | None = None
    error_count: int | None = Field(default=None, description="how many field errors there were in all")


class ProblemError(Exception):
    """Raise from an entrypoint to answer with a problem; extensions become extra members of the answer."""

    def __init__(
        self, status: int, detail: str, *, headers: Mapping[str, str] | None = None, **extensions: Any
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})
        self.extensions = extensions


def printable(text: str, limit: int = MAX_TEXT) -> str:
    """The text cut to `limit` characters, lone surrogates and control characters escaped."""
    cut = text[:limit] + ("…" if len(text) > limit else "")
    escaped = cut.encode("utf-8", "backslashreplace").decode("utf-8")
    return "".join(c if c.isprintable() or c in "\n\t" else f"\\x{ord(c):02x}" for c in escaped)


_EXCERPT = reprlib.Repr()
_EXCERPT.maxlevel, _EXCERPT.maxlist, _EXCERPT.maxdict = 2, 4, 4
_EXCERPT.maxstring, _EXCERPT.maxother, _EXCERPT.maxlong = 60, 60, 40


def excerpt(value: Any) -> str:
    """A bounded, printable picture of any value: never the whole of a huge input."""
    if isinstance(value, str):
        return printable(value, 60)
    try:
        return printable(_EXCERPT.repr(value), 120)
    except Exception:
        return f"<{type(value).__name__}>"


def safe(value: Any, depth: int = 0) -> Any:
    """A JSON-safe copy: finite numbers, printable bounded strings, bounded nesting and lengths."""
    if value is None or (isinstance(value, bool | int) and abs(value) < 2**53):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else excerpt(value)
    if isinstance(value, str):
        return printable(value)
    if depth < 3 and isinstance(value, Mapping):
        return {printable(str(k), 60): safe(v, depth + 1) for k, v in list(value.items())[:MAX_ERRORS]}
    if depth < 3 and isinstance(value, list | tuple):
        return [safe(v, depth + 1) for v in value[:MAX_ERRORS]]
    return excerpt(value)


def problem_response(
    status: int,
    detail: str,
    *,
    instance: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> Response:
    """The problem answer itself; `extensions` are made JSON-safe first."""
    try:
        title = http.HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": printable(detail)}
    if instance:
        body["instance"] = printable(instance)
    body.update({printable(key, 60): safe(value) for key, value in extensions.items()})
    content = json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8")
    return Response(content, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_MEDIA_TYPE)


def field_problems(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic/FastAPI error dicts as bounded `FieldProblem`s (no ctx, an excerpt of the input)."""
    listed: list[dict[str, Any]] = []
    for error in errors:
        if len(listed) == MAX_ERRORS:
            break
        problem: dict[str, Any] = {
            "loc": [part if isinstance(part, int) else printable(str(part), 60) for part in error.get("loc", ())],
            "msg": printable(str(error.get("msg", ""))),
            "type": printable(str(error.get("type", "invalid")), 60),
        }
        if "input" in error:
            problem["input"] = excerpt(error["input"])
        for key, value in error.items():
            if key not in {"loc", "msg", "type", "input", "ctx", "url"}:
                problem[printable(str(key), 60)] = safe(value)
        listed.append(problem)
    return listed


def _validation_problem(errors: list[Any], instance: str) -> Response:
    listed = field_problems(errors)
    first = listed[0] if listed else {"loc": [], "msg": "invalid"}
    where = ".".join(str(part) for part in first["loc"])
    detail = f"{where}: {first['msg']}" if where else str(first["msg"])
    return problem_response(422, detail, instance=instance, errors=listed, error_count=len(errors))


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    try:
        return _validation_problem(list(exc.errors()), request.url.path)
    except Exception:  # the last line of defence: a refusal must never become a 500
        _log.exception("validation_problem_failed")
        return problem_response(422, "the request is not valid")


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = exc.detail
    headers = exc.headers or {}
    if isinstance(detail, list):
        return (
            _validation_problem(detail, request.url.path)
            if exc.status_code == 422
            else problem_response(
                exc.status_code,
                "the request was refused",
                instance=request.url.path,
                headers=headers,
                errors=field_problems(detail),
            )
        )
    if isinstance(detail, Mapping):
        extensions = {str(k): v for k, v in detail.items() if k not in {"detail", "message", "status", "title"}}
        message = str(detail.get("message") or detail.get("detail") or "")
        return problem_response(exc.status_code, message, instance=request.url.path, headers=headers, **extensions)
    return problem_response(exc.status_code, str(detail), instance=request.url.path, headers=headers)


async def _on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return problem_response(exc.status, exc.detail, instance=request.url.path, headers=exc.headers, **exc.extensions)


async def _on_unexpected(request: Request, exc: Exception) -> Response:
    return problem_response(500, "the service failed to answer; the error is logged", instance=request.url.path)


DESCRIPTIONS = {
    400: "The request is malformed (a bad header, a body that cannot be read)",
    401: "No valid credentials",
    403: "The credentials do not allow this",
    404: "Not found",
    409: "Conflicts with the current state",
    413: "The request body is over this operation's limit",
    422: "The request is not valid; `errors` names the fields",
    502: "A service this one relies on did not answer",
    503: "Not available right now: retry later",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for a route: each status answered with a problem."""
    return {status: {"description": DESCRIPTIONS.get(status, http.HTTPStatus(status).phrase)} for status in statuses}


def _document(schema: dict[str, Any]) -> None:
    """Every error response of every operation is a Problem; bodies can be too large; secured ones 401/403."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(problem_schema.pop("$defs", {}))
    components["Problem"] = problem_schema
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    content = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses: dict[str, Any] = operation["responses"]
            extra = {400, 413} if "requestBody" in operation else set()
            if operation.get("security") or schema.get("security"):
                extra |= {401, 403}
            for status in extra:
                responses.setdefault(str(status), {"description": DESCRIPTIONS[status]})
            for code, response in responses.items():
                if code == "422" or (code[0] in "45" and not _has_own_schema(response)):
                    response["content"] = content
                    if code == "422" and response.get("description") in (None, "Validation Error"):
                        response["description"] = DESCRIPTIONS[422]  # FastAPI's own words; a route's stay


def _has_own_schema(response: dict[str, Any]) -> bool:
    """A route declared a body model of its own for this status (e.g. readiness answering 503)."""
    return any(media.get("schema") for media in response.get("content", {}).values())


def install_problem_details(app: FastAPI) -> None:
    """Answers every error of `app` with a problem and says so in its OpenAPI document."""
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(HTTPException, _on_http_exception)
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(Exception, _on_unexpected)
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _document(generate())
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
