"""The dashboard's session: who signed in and with which roles, in an encrypted, HttpOnly, SameSite cookie
(Fernet with a key from the environment), with a CSRF token every state-changing call must echo in a header."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from fastapi import Request, Response

from dropship_shared.auth import AccessRefused
from dropship_shared.tokens import Caller, Role

SESSION_COOKIE = "dropship_session"
SIGN_IN_COOKIE = "dropship_sign_in"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SIGN_IN_SECONDS = 600


@dataclass(frozen=True)
class Session:
    caller: Caller
    csrf_token: str
    expires_at: float


class DashboardSessions:
    """Issues and reads the session cookie; without a key nobody can sign in (the API still takes bearer tokens)."""

    def __init__(self, key: str, lifetime_seconds: float) -> None:
        # any long random string works as the key: Fernet wants 32 bytes, so it gets the string's SHA-256
        self._fernet = Fernet(base64.urlsafe_b64encode(hashlib.sha256(key.encode()).digest())) if key else None
        self._lifetime = lifetime_seconds

    @property
    def enabled(self) -> bool:
        return self._fernet is not None

    def start(self, response: Response, request: Request, caller: Caller, not_after: float | None = None) -> None:
        expires_at = min(time.time() + self._lifetime, not_after or float("inf"))
        content = {
            "sub": caller.subject,
            "roles": sorted(caller.roles),
            "csrf": secrets.token_urlsafe(32),
            "exp": expires_at,
        }
        self._set(response, request, SESSION_COOKIE, content, "/", int(expires_at - time.time()))

    def end(self, response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE, path="/")

    def current(self, request: Request) -> Session | None:
        content = self._read(request, SESSION_COOKIE, self._lifetime)
        if content is None or float(content["exp"]) < time.time():
            return None
        roles = frozenset(Role(name) for name in content["roles"] if name in Role._value2member_map_)
        return Session(Caller(str(content["sub"]), roles), str(content["csrf"]), float(content["exp"]))

    async def caller(self, request: Request) -> Caller | None:
        """The signed-in caller for an API call from the dashboard page; a state change must carry the CSRF token."""
        session = self.current(request)
        if session is None:
            return None
        if request.method not in SAFE_METHODS and not secrets.compare_digest(
            request.headers.get(CSRF_HEADER, ""), session.csrf_token
        ):
            raise AccessRefused(403, f"a dashboard change needs the session's {CSRF_HEADER} header")
        return session.caller

    def remember_sign_in(self, response: Response, request: Request, state: str, verifier: str) -> None:
        """What the callback must find again: the state we sent and the PKCE verifier."""
        content = {"state": state, "verifier": verifier}
        self._set(response, request, SIGN_IN_COOKIE, content, "/dashboard", SIGN_IN_SECONDS)

    def pending_sign_in(self, request: Request) -> dict[str, Any] | None:
        return self._read(request, SIGN_IN_COOKIE, SIGN_IN_SECONDS)

    def forget_sign_in(self, response: Response) -> None:
        response.delete_cookie(SIGN_IN_COOKIE, path="/dashboard")

    def _set(
        self, response: Response, request: Request, name: str, content: dict[str, Any], path: str, max_age: int
    ) -> None:
        if self._fernet is None:
            raise RuntimeError("DASHBOARD_SESSION_KEY is not configured")
        response.set_cookie(
            name,
            self._fernet.encrypt(json.dumps(content).encode()).decode(),
            max_age=max_age,
            path=path,
            httponly=True,
            samesite="lax",  # sent on the provider's redirect back (a top-level GET), never on cross-site POSTs
            secure=request.url.scheme == "https",
        )

    def _read(self, request: Request, name: str, max_age: float) -> dict[str, Any] | None:
        raw = request.cookies.get(name)
        if self._fernet is None or not raw:
            return None
        try:
            content: dict[str, Any] = json.loads(self._fernet.decrypt(raw.encode(), ttl=int(max_age) + 1))
        except (InvalidToken, ValueError):
            return None
        return content
