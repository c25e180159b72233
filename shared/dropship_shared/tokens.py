"""Verifying OAuth2 bearer tokens: JWTs signed by the identity provider, checked against its keys (a JWKS URL
or configured PEM public keys), its issuer and our audience. PyJWT does the cryptography."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from dropship_shared.settings import ServiceSettings

PEM_BLOCK = re.compile(r"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", re.DOTALL)
REQUIRED_CLAIMS = ["exp", "iss", "aud", "sub"]
# A verified token is trusted again without its signature check for this long at most (never past its expiry),
# so a key the provider withdraws stops being honoured this long after at the latest.
VERIFIED_FOR_SECONDS = 60.0
VERIFIED_TOKENS_KEPT = 4096


class Role(StrEnum):
    """What a caller may do, granted by the identity provider as a scope (or role) in the token."""

    STOREFRONT = "storefront"  # place and read orders, availability
    OPERATIONS = "operations"  # dashboard, release/hold/resume, retries, exceptions, dead letters
    ADMIN = "admin"  # catalog, suppliers, policies, secrets


@dataclass(frozen=True)
class Caller:
    """Who is calling (the token's subject) and the roles the token grants."""

    subject: str
    roles: frozenset[Role]


class TokenRefused(Exception):
    """The token is missing, malformed, expired, for someone else, or not signed by a trusted key."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


VerificationKey = tuple[Any, str]  # a public key and the one algorithm it verifies


class KeySource(Protocol):
    async def candidates(self, token: str) -> Sequence[VerificationKey]: ...


class StaticKeys:
    """PEM public keys from the configuration; each verifies the algorithm its type implies (RSA: RS256, EC: ES256)."""

    def __init__(self, pem_text: str) -> None:
        self._keys: list[VerificationKey] = []
        for block in PEM_BLOCK.findall(pem_text):
            key = load_pem_public_key(block.encode())
            if isinstance(key, rsa.RSAPublicKey):
                self._keys.append((key, "RS256"))
            elif isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
                self._keys.append((key, "ES256"))
            else:
                raise ValueError("AUTH_PUBLIC_KEYS holds a key that is neither RSA nor EC P-256")
        if not self._keys:
            raise ValueError("AUTH_PUBLIC_KEYS holds no PEM public key")

    async def candidates(self, token: str) -> Sequence[VerificationKey]:
        return self._keys


class JwksKeys:
    """The identity provider's published keys, fetched from its JWKS URL and cached for five minutes; a token with
    an unknown kid (a rotated key) makes it fetch again, at most once per `refetch_cooldown_seconds`."""

    def __init__(self, url: str, refetch_cooldown_seconds: float = 30) -> None:
        self._client = jwt.PyJWKClient(
            url, cache_keys=True, lifespan=300, timeout=10, cooldown_duration=refetch_cooldown_seconds
        )

    async def candidates(self, token: str) -> Sequence[VerificationKey]:
        signing_key = await asyncio.to_thread(self._client.get_signing_key_from_jwt, token)
        return [(signing_key.key, signing_key.algorithm_name)]


class TokenVerifier:
    """Turns a bearer token into the Caller it names, or refuses it (TokenRefused says why)."""

    def __init__(
        self,
        keys: KeySource | None,
        issuer: str,
        audience: str,
        algorithms: Sequence[str],
        roles_claim: str = "scope",
        role_scopes: Mapping[str, str] | None = None,
        leeway_seconds: int = 30,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._algorithms = frozenset(algorithms)
        self._roles_claim = roles_claim.split(".")
        scopes = role_scopes or {}
        self._role_by_scope = {scopes.get(role.value, role.value): role for role in Role}
        self._leeway = leeway_seconds
        self._clock = clock
        # token → (caller, trusted until): a storefront sends the same token with every request, and checking
        # an ES256 signature costs more CPU than the rest of a small request's authorization.
        self._verified: dict[str, tuple[Caller, float]] = {}

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> TokenVerifier:
        keys: KeySource | None = None
        if settings.auth_jwks_url:
            keys = JwksKeys(settings.auth_jwks_url)
        elif settings.auth_public_keys:
            keys = StaticKeys(settings.auth_public_keys)
        return cls(
            keys,
            settings.auth_issuer,
            settings.auth_audience,
            [name.strip() for name in settings.auth_algorithms.split(",") if name.strip()],
            settings.auth_roles_claim,
            settings.auth_role_scopes,
            settings.auth_leeway_seconds,
        )

    @property
    def configured(self) -> bool:
        return self._keys is not None and bool(self._issuer) and bool(self._audience)

    async def caller(self, token: str) -> Caller:
        if self._keys is None or not self.configured:
            raise TokenRefused("this service has no token issuer, audience and keys configured")
        now = self._clock()
        known = self._verified.get(token)
        if known is not None and now < known[1]:
            return known[0]
        try:
            claims = await self._verified_claims(self._keys, token)
        except jwt.PyJWTError as exc:
            raise TokenRefused(_reason(exc)) from exc
        caller = Caller(str(claims["sub"]), self._granted_roles(claims))
        self._remember(token, caller, min(float(claims["exp"]) + self._leeway, now + VERIFIED_FOR_SECONDS), now)
        return caller

    def _remember(self, token: str, caller: Caller, until: float, now: float) -> None:
        if len(self._verified) >= VERIFIED_TOKENS_KEPT:
            self._verified = {known: entry for known, entry in self._verified.items() if entry[1] > now}
            while len(self._verified) >= VERIFIED_TOKENS_KEPT:  # all still trusted: forget the oldest
                del self._verified[next(iter(self._verified))]
        self._verified[token] = (caller, until)

    async def _verified_claims(self, keys: KeySource, token: str) -> dict[str, Any]:
        refusal: jwt.PyJWTError = jwt.InvalidSignatureError("no trusted key verifies the signature")
        for key, algorithm in await keys.candidates(token):
            if algorithm not in self._algorithms:
                continue
            try:
                claims: dict[str, Any] = jwt.decode(
                    token,
                    key,
                    algorithms=[algorithm],
                    audience=self._audience,
                    issuer=self._issuer,
                    leeway=self._leeway,
                    options={"require": REQUIRED_CLAIMS},
                )
                return claims
            except (jwt.InvalidSignatureError, jwt.InvalidAlgorithmError) as exc:
                refusal = exc  # another configured key may have signed it
        raise refusal

    def _granted_roles(self, claims: Mapping[str, Any]) -> frozenset[Role]:
        value: Any = claims
        for part in self._roles_claim:
            value = value.get(part) if isinstance(value, Mapping) else None
        if isinstance(value, str):
            names = value.split()
        elif isinstance(value, list):
            names = [name for name in value if isinstance(name, str)]
        else:
            names = []
        return frozenset(self._role_by_scope[name] for name in names if name in self._role_by_scope)


def _reason(exc: jwt.PyJWTError) -> str:
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "the token has expired"
    if isinstance(exc, jwt.InvalidAudienceError):
        return "the token is not meant for this service (audience)"
    if isinstance(exc, jwt.InvalidIssuerError):
        return "the token comes from an issuer this service does not trust"
    if isinstance(exc, jwt.InvalidSignatureError | jwt.InvalidAlgorithmError):
        return "the token's signature does not verify with a trusted key"
    if isinstance(exc, jwt.PyJWKClientError):
        return f"the identity provider's keys are unavailable or do not sign this token: {exc}"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"the token lacks the {exc.claim!r} claim"
    return f"the token is malformed: {exc}"
