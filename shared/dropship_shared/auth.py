"""Who may call what: every route of a service has an access rule (public, or the roles that may call it), and
every non-public call needs a bearer token granting one of them. No rule, no access: a route nobody decided
about is refused."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security.base import SecurityBase
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import BaseModel

from dropship_shared.logs import get_logger
from dropship_shared.settings import ServiceSettings
from dropship_shared.tokens import Caller, Role, TokenRefused, TokenVerifier

log = get_logger(__name__)
REALM = "dropship"
PROBLEM_MEDIA_TYPE = "application/problem+json"


@dataclass(frozen=True)
class AccessRule:
    """The roles that may call a route; none means the route is public (health, metrics, HMAC-signed callbacks)."""

    roles: frozenset[Role]

    @property
    def public(self) -> bool:
        return not self.roles


PUBLIC = AccessRule(frozenset())
# Roles are a ladder: operations may do what the storefront does, and admins what operations do.
STOREFRONT = AccessRule(frozenset({Role.STOREFRONT, Role.OPERATIONS, Role.ADMIN}))
OPERATIONS = AccessRule(frozenset({Role.OPERATIONS, Role.ADMIN}))
ADMIN = AccessRule(frozenset({Role.ADMIN}))

# "METHOD /path template" → rule; each service lists its own routes and adds these.
AccessPolicy = Mapping[str, AccessRule]
OPERATIONAL_ACCESS: AccessPolicy = {
    "GET /healthz": PUBLIC,
    "GET /readyz": PUBLIC,
    "GET /metrics": PUBLIC,
    "GET /admin/dead-letters": OPERATIONS,
    "POST /admin/dead-letters/replay": OPERATIONS,
    "GET /admin/backlog": OPERATIONS,
    "GET /admin/audit": OPERATIONS,
}

CallerSource = Callable[[Request], Awaitable[Caller | None]]


class AccessRefused(Exception):
    """401 (no usable credential) or 403 (a credential without the role); rendered as problem details."""

    def __init__(self, status: int, detail: str, challenge: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.challenge = challenge


class BearerAuthorization(SecurityBase):
    """The check every route runs, as the app's one dependency (`authorize`). A bearer security scheme itself, so
    the OpenAPI document names the HTTPBearer scheme as before, and FastAPI resolves one dependency per request
    where an HTTPBearer and a function depending on it were two."""

    def __init__(self) -> None:
        self.model = HTTPBearerModel(description="An OAuth2 access token (JWT) from the configured provider")
        self.scheme_name = "HTTPBearer"

    async def __call__(self, request: Request) -> None:
        await authorize(request, bearer_token(request))


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (the scheme in any case), as FastAPI's HTTPBearer
    (auto_error=False) reads it; None without one."""
    authorization = request.headers.get("Authorization")
    scheme, credentials = get_authorization_scheme_param(authorization)
    if not (authorization and scheme and credentials) or scheme.lower() != "bearer":
        return None
    return credentials


async def authorize(request: Request, token: str | None) -> None:
    """Find the route's rule, then the caller, then compare the roles."""
    route = request.scope.get("route")
    rules: RouteRules = request.app.state.route_rules
    rule = rules.of(route) if isinstance(route, APIRoute) else None
    if rule is None:
        raise AccessRefused(403, "this operation has no access rule, so nobody may call it")
    if rule.public:
        return
    caller = await _caller(request, token)
    request.state.caller = caller
    if not caller.roles & rule.roles:
        wanted = " ".join(sorted(rule.roles))
        raise AccessRefused(
            403,
            f"this operation needs one of the roles: {', '.join(sorted(rule.roles))}",
            _challenge("insufficient_scope", "the token lacks the role", scope=wanted),
        )


AUTHORIZATION = BearerAuthorization()


def current_caller(request: Request) -> Caller:
    """The caller authorize() accepted (for recording who did something)."""
    caller: Caller = request.state.caller
    return caller


CurrentCaller = Annotated[Caller, Depends(current_caller)]


def install_authorization(
    app: FastAPI, settings: ServiceSettings, policy: AccessPolicy, extra_source: CallerSource | None = None
) -> None:
    """Every route included from now on runs authorize(); call it right after creating the app.

    `extra_source` lets a service accept another credential besides bearer tokens (the dashboard's session).
    """
    verifier = TokenVerifier.from_settings(settings)
    if not verifier.configured:
        log.warning("no token issuer, audience and keys configured: every protected call will be refused")
    app.state.token_verifier = verifier
    app.state.access_policy = {**OPERATIONAL_ACCESS, **policy}
    app.state.route_rules = RouteRules(app.state.access_policy)
    app.state.extra_caller_source = extra_source
    app.router.dependencies.append(Depends(AUTHORIZATION))
    app.add_exception_handler(AccessRefused, _refusal)  # type: ignore[arg-type]
    _document_refusals(app)


class AccessProblem(BaseModel):
    """An RFC 9457 problem: why the call was refused (with a WWW-Authenticate challenge)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str


REFUSALS: dict[int | str, dict[str, Any]] = {
    status: {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": AccessProblem.model_json_schema()}},
    }
    for status, description in (
        (401, "No bearer token, or one expired, for another audience or not signed by a trusted key"),
        (403, "The token does not grant a role this operation needs"),
    )
}


def _document_refusals(app: FastAPI) -> None:
    """Every protected operation's OpenAPI lists its 401 and 403 (added when the schema is first built); a
    public one (health, a supplier's signed endpoints) claims no bearer token, so it lists only its own."""
    build = app.openapi
    rules: RouteRules = app.state.route_rules

    def openapi() -> dict[str, Any]:
        public = []
        for context, route in _api_routes(app):
            if (rule := rules.of(route)) is not None and not rule.public:
                for status, response in REFUSALS.items():
                    context.responses.setdefault(status, response)
            elif rule is not None:
                public += [(route.path_format, method.lower()) for method in route.methods or ()]
        schema = build()
        for path, method in public:
            schema.get("paths", {}).get(path, {}).get(method, {}).pop("security", None)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def unruled_routes(app: FastAPI) -> list[str]:
    """Routes without an access rule, or not running authorize() (a test asserts there are none)."""
    policy: AccessPolicy = app.state.access_policy
    missing = []
    for context, route in _api_routes(app):
        checked = any(dependency.call is AUTHORIZATION for dependency in context.dependant.dependencies)
        missing += [key for key in _keys(route) if key not in policy or not checked]
    return missing


def _api_routes(app: FastAPI) -> Iterator[tuple[Any, APIRoute]]:
    """Every API route with its context in the app (the dependencies and responses its routers add)."""
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            yield context, context.original_route


def _keys(route: APIRoute) -> list[str]:
    return [f"{method} {route.path_format}" for method in sorted(route.methods or ())]


def _rule_in(policy: AccessPolicy, route: APIRoute) -> AccessRule | None:
    """The one rule the policy gives every method of the route; none when it gives none or several."""
    rules = {policy.get(key) for key in _keys(route)}
    return rules.pop() if len(rules) == 1 else None


class RouteRules:
    """Each route's rule in an app's policy, found once per route: the keys built from its methods and path, then
    looked up, on every request were a fifth of the authorization's CPU. Routes are not hashable (Starlette
    compares them by value), so they are known by identity, the route kept with its rule."""

    def __init__(self, policy: AccessPolicy) -> None:
        self._policy = policy
        self._known: dict[int, tuple[APIRoute, AccessRule | None]] = {}

    def of(self, route: APIRoute) -> AccessRule | None:
        known = self._known.get(id(route))
        if known is None or known[0] is not route:
            known = self._known[id(route)] = (route, _rule_in(self._policy, route))
        return known[1]


async def _caller(request: Request, token: str | None) -> Caller:
    if token is None:
        extra: CallerSource | None = request.app.state.extra_caller_source
        found = await extra(request) if extra else None
        if found is not None:
            return found
        raise AccessRefused(401, "this operation needs a bearer token", _challenge("", ""))
    verifier: TokenVerifier = request.app.state.token_verifier
    try:
        return await verifier.caller(token)
    except TokenRefused as exc:
        raise AccessRefused(401, exc.reason, _challenge("invalid_token", exc.reason)) from exc


def _challenge(error: str, description: str, scope: str = "") -> str:
    """An RFC 6750 WWW-Authenticate value."""
    parts = [f'realm="{REALM}"']
    if error:
        parts.append(f'error="{error}"')
        parts.append('error_description="{}"'.format(description.replace('"', "'")))
    if scope:
        parts.append(f'scope="{scope}"')
    return "Bearer " + ", ".join(parts)


async def _refusal(request: Request, exc: AccessRefused) -> JSONResponse:
    title = "Unauthorized" if exc.status == 401 else "Forbidden"
    return JSONResponse(
        {"type": "about:blank", "title": title, "status": exc.status, "detail": exc.detail},
        status_code=exc.status,
        media_type=PROBLEM_MEDIA_TYPE,
        headers={"WWW-Authenticate": exc.challenge} if exc.challenge else None,
    )
