"""Signing in to the dashboard: with the identity provider (authorization code + PKCE), or, on a development
system, with one click; signing out. The page itself and its data calls are in dashboard.py."""

from __future__ import annotations

import html
import secrets

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from aggregator.adapters.oidc import OidcProvider, ProofKey, SignInFailed
from aggregator.entrypoints.dashboard_session import DashboardSessions
from dropship_shared.tokens import Caller, Role, TokenRefused, TokenVerifier

router = APIRouter(prefix="/dashboard", include_in_schema=False)
DEV_OPERATOR = Caller("dev-operator", frozenset({Role.OPERATIONS}))
DASHBOARD_ROLES = frozenset({Role.OPERATIONS, Role.ADMIN})
# No inline script or style anywhere: the pages load /dashboard/static/*, and nothing else may run.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "X-Content-Type-Options": "nosniff"}


def sessions_of(request: Request) -> DashboardSessions:
    sessions: DashboardSessions = request.app.state.dashboard_sessions
    return sessions


def sign_in_page(request: Request, message: str = "", status_code: int = 200) -> HTMLResponse:
    provider: OidcProvider = request.app.state.oidc_provider
    choices = []
    if provider.configured and sessions_of(request).enabled:
        choices.append('<p><a href="/dashboard/sign-in">Sign in with your company account</a></p>')
    if request.app.state.dev_sign_in and sessions_of(request).enabled:
        choices.append(
            '<form method="post" action="/dashboard/dev-sign-in">'
            "<button>Development sign-in (operations)</button></form>"
        )
    if not choices:
        choices.append("<p>No sign-in is configured (DASHBOARD_SESSION_KEY and OIDC_*; see the README).</p>")
    note = f'<p class="escalated">{html.escape(message)}</p>' if message else ""
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Drop-ship operations: sign in</title>'
        '<link rel="stylesheet" href="/dashboard/static/dashboard.css"></head><body>'
        f"<h1>Drop-ship operations</h1>{note}{''.join(choices)}</body></html>"
    )
    return HTMLResponse(body, status_code=status_code, headers=PAGE_HEADERS)


@router.get("/sign-in")
async def sign_in(request: Request) -> Response:
    provider: OidcProvider = request.app.state.oidc_provider
    if not provider.configured or not sessions_of(request).enabled:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no identity provider is configured")
    state, proof = secrets.token_urlsafe(24), ProofKey.new()
    response = RedirectResponse(
        provider.authorization_redirect(str(request.url_for("sign_in_callback")), state, proof),
        status_code=status.HTTP_302_FOUND,
    )
    sessions_of(request).remember_sign_in(response, request, state, proof.verifier)
    return response


@router.get("/callback", name="sign_in_callback")
async def callback(request: Request, code: str = "", state: str = "", error: str = "") -> Response:
    sessions = sessions_of(request)
    pending = sessions.pending_sign_in(request)
    if error or not code or pending is None or not secrets.compare_digest(state, str(pending["state"])):
        return sign_in_page(request, f"Sign-in did not complete {error}".strip(), status.HTTP_400_BAD_REQUEST)
    provider: OidcProvider = request.app.state.oidc_provider
    verifier: TokenVerifier = request.app.state.token_verifier
    redirect_uri = str(request.url_for("sign_in_callback"))
    try:
        token = await provider.access_token(code, redirect_uri, str(pending["verifier"]))
        caller = await verifier.caller(token)
    except (SignInFailed, TokenRefused) as exc:
        return sign_in_page(request, f"Sign-in failed: {exc}", status.HTTP_401_UNAUTHORIZED)
    if not caller.roles & DASHBOARD_ROLES:
        return sign_in_page(request, "Your account has no operations role.", status.HTTP_403_FORBIDDEN)
    response = RedirectResponse("/dashboard", status_code=status.HTTP_303_SEE_OTHER)
    sessions.forget_sign_in(response)
    sessions.start(response, request, caller)
    return response


@router.post("/dev-sign-in")
async def dev_sign_in(request: Request) -> Response:
    if not request.app.state.dev_sign_in or not sessions_of(request).enabled:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="development sign-in is off")
    response = RedirectResponse("/dashboard", status_code=status.HTTP_303_SEE_OTHER)
    sessions_of(request).start(response, request, DEV_OPERATOR)
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    response = RedirectResponse("/dashboard", status_code=status.HTTP_303_SEE_OTHER)
    sessions_of(request).end(response)
    return response
