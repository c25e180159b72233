"""The dashboard's sign-in with the company identity provider: OpenID Connect authorization code with PKCE
(RFC 7636, S256). The provider's answer is an access token, verified like any bearer token."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx


class SignInFailed(Exception):
    """The provider refused the code exchange or answered without an access token."""


@dataclass(frozen=True)
class ProofKey:
    """A PKCE verifier kept by us and the challenge (its SHA-256) sent with the authorization request."""

    verifier: str
    challenge: str

    @classmethod
    def new(cls) -> ProofKey:
        verifier = secrets.token_urlsafe(48)
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        return cls(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii"))


@dataclass(frozen=True)
class OidcProvider:
    authorization_url: str
    token_url: str
    client_id: str
    client_secret: str = ""
    scope: str = "openid operations"
    timeout: float = 10.0

    @property
    def configured(self) -> bool:
        return bool(self.authorization_url and self.token_url and self.client_id)

    def authorization_redirect(self, redirect_uri: str, state: str, proof: ProofKey) -> str:
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": redirect_uri,
                "scope": self.scope,
                "state": state,
                "code_challenge": proof.challenge,
                "code_challenge_method": "S256",
            }
        )
        separator = "&" if "?" in self.authorization_url else "?"
        return f"{self.authorization_url}{separator}{query}"

    async def access_token(self, code: str, redirect_uri: str, code_verifier: str) -> str:
        """Exchange the authorization code (with the PKCE verifier) for the access token."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": self.client_id,
            "code_verifier": code_verifier,
        }
        auth = httpx.BasicAuth(self.client_id, self.client_secret) if self.client_secret else None
        try:
            async with httpx.AsyncClient(timeout=self.timeout, auth=auth) as client:
                response = await client.post(self.token_url, data=form)
            response.raise_for_status()
            return str(response.json()["access_token"])
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            raise SignInFailed(f"the identity provider did not give a token: {exc!r}") from exc
