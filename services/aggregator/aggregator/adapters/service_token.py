"""The aggregator's own credential for the other services' APIs: a configured bearer token, or one obtained
with the OAuth2 client-credentials grant from the identity provider and renewed before it expires."""

from __future__ import annotations

import asyncio
import time

import httpx

RENEW_BEFORE_EXPIRY_SECONDS = 60.0


class ServiceCredentials:
    def __init__(
        self,
        token: str = "",
        token_url: str = "",
        client_id: str = "",
        client_secret: str = "",
        scope: str = "",
        timeout: float = 10.0,
    ) -> None:
        self._token = token
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._scope = scope
        self._timeout = timeout
        self._renew_at = 0.0 if token_url else float("inf")
        self._lock = asyncio.Lock()

    async def headers(self) -> dict[str, str]:
        """The Authorization header for a call (none when nothing is configured: the call will be refused)."""
        if time.monotonic() >= self._renew_at:
            async with self._lock:
                if time.monotonic() >= self._renew_at:
                    await self._fetch()
        return {"Authorization": f"Bearer {self._token}"} if self._token else {}

    async def _fetch(self) -> None:
        form = {"grant_type": "client_credentials"}
        if self._scope:
            form["scope"] = self._scope
        async with httpx.AsyncClient(timeout=self._timeout) as client:
            response = await client.post(self._token_url, data=form, auth=(self._client_id, self._client_secret))
        response.raise_for_status()
        answer = response.json()
        self._token = str(answer["access_token"])
        lifetime = float(answer.get("expires_in", 300))
        self._renew_at = time.monotonic() + max(lifetime - RENEW_BEFORE_EXPIRY_SECONDS, lifetime / 2)
