"""Bearer token verification: only tokens from the configured issuer, for our audience, unexpired and signed by a
trusted key name a caller; the roles come from the configured claim and scope names."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Sequence
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from dev_identity import DevIdentity
from dropship_shared.tokens import Caller, Role, StaticKeys, TokenRefused, TokenVerifier, VerificationKey

TRUSTED = DevIdentity.generate()
STRANGER = DevIdentity.generate()


def verifier(keys_pem: str = TRUSTED.public_key_pem, **options: Any) -> TokenVerifier:
    return TokenVerifier(StaticKeys(keys_pem), TRUSTED.issuer, TRUSTED.audience, ["RS256", "ES256"], **options)


def encoded(part: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


def tampered(token: str) -> str:
    """The same header and signature over claims changed after signing (another subject)."""
    header, _, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    return ".".join([header, encoded({**claims, "sub": "mallory"}), signature])


def signed(claims: dict[str, Any], key: Any = TRUSTED.private_key, algorithm: str = "ES256") -> str:
    now = int(time.time())
    base = {"iss": TRUSTED.issuer, "aud": TRUSTED.audience, "sub": "ann", "iat": now, "exp": now + 600}
    return jwt.encode({**base, **claims}, key, algorithm=algorithm)


async def test_a_good_token_names_its_subject_and_roles() -> None:
    caller = await verifier().caller(TRUSTED.token("storefront", "operations", subject="ann"))
    assert caller == Caller("ann", frozenset({Role.STOREFRONT, Role.OPERATIONS}))


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (TRUSTED.token("admin", ttl_seconds=-3600), "expired"),
        (TRUSTED.token("admin", audience="someone-else"), "audience"),
        (TRUSTED.token("admin", issuer="https://evil.example"), "issuer"),
        (STRANGER.token("admin"), "signature"),
        (tampered(TRUSTED.token("admin")), "signature"),
        ("not-a-jwt", "malformed"),
    ],
    ids=["expired", "wrong-audience", "wrong-issuer", "wrong-signature", "tampered", "garbage"],
)
async def test_bad_tokens_are_refused_saying_why(token: str, reason: str) -> None:
    with pytest.raises(TokenRefused, match=reason):
        await verifier().caller(token)


async def test_a_token_without_expiry_or_subject_is_refused() -> None:
    now = int(time.time())
    no_expiry = jwt.encode(
        {"iss": TRUSTED.issuer, "aud": TRUSTED.audience, "sub": "ann", "iat": now, "scope": "admin"},
        TRUSTED.private_key,
        algorithm="ES256",
    )
    with pytest.raises(TokenRefused, match="'exp'"):
        await verifier().caller(no_expiry)


async def test_unsigned_and_symmetric_tokens_are_refused_even_with_the_public_key_as_secret() -> None:
    unsigned = jwt.encode({"sub": "x"}, None, algorithm="none")  # type: ignore[arg-type]
    with pytest.raises(TokenRefused):
        await verifier().caller(unsigned)
    # the classic confusion: HS256 "signed" with the public key text as the shared secret
    header = encoded({"alg": "HS256", "typ": "JWT"})
    payload = encoded({"iss": TRUSTED.issuer, "aud": TRUSTED.audience, "sub": "x", "exp": time.time() + 60})
    mac = hmac.new(TRUSTED.public_key_pem.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    forged = f"{header}.{payload}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    with pytest.raises(TokenRefused, match="signature"):
        await verifier().caller(forged)


async def test_without_configured_keys_every_token_is_refused() -> None:
    unconfigured = TokenVerifier(None, TRUSTED.issuer, TRUSTED.audience, ["ES256"])
    assert not unconfigured.configured
    with pytest.raises(TokenRefused, match="no token issuer"):
        await unconfigured.caller(TRUSTED.token("admin"))


async def test_any_of_several_configured_keys_verifies_and_rsa_keys_verify_rs256() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    both = verifier(TRUSTED.public_key_pem + rsa_pem.decode())
    assert (await both.caller(TRUSTED.token("admin"))).roles == {Role.ADMIN}
    assert (await both.caller(signed({"scope": "operations"}, rsa_key, "RS256"))).roles == {Role.OPERATIONS}
    with pytest.raises(TokenRefused, match="signature"):
        await both.caller(STRANGER.token("admin"))


async def test_roles_come_from_the_configured_claim_and_scope_names() -> None:
    okta_style = verifier(roles_claim="scp", role_scopes={"admin": "dropship.admin"})
    caller = await okta_style.caller(signed({"scp": ["dropship.admin", "admin", "openid"]}))
    assert caller.roles == {Role.ADMIN}
    keycloak_style = verifier(roles_claim="realm_access.roles")
    caller = await keycloak_style.caller(signed({"realm_access": {"roles": ["operations", "offline_access"]}}))
    assert caller.roles == {Role.OPERATIONS}
    assert (await verifier().caller(signed({"scope": "openid profile"}))).roles == frozenset()


def test_configured_keys_must_be_public_keys_of_a_supported_kind() -> None:
    with pytest.raises(ValueError, match="no PEM public key"):
        StaticKeys("not a key")


class CountingKeys(StaticKeys):
    def __init__(self, pem_text: str) -> None:
        super().__init__(pem_text)
        self.asked = 0

    async def candidates(self, token: str) -> Sequence[VerificationKey]:
        self.asked += 1
        return await super().candidates(token)


async def test_a_verified_token_is_trusted_again_until_its_expiry_or_a_minute_at_most() -> None:
    now = [time.time()]
    keys = CountingKeys(TRUSTED.public_key_pem)
    tokens = TokenVerifier(keys, TRUSTED.issuer, TRUSTED.audience, ["ES256"], leeway_seconds=5, clock=lambda: now[0])
    short = signed({"scope": "storefront", "exp": int(now[0]) + 20})
    long = signed({"scope": "storefront", "exp": int(now[0]) + 3600})
    for token in (short, long, short, long):
        assert await tokens.caller(token) == Caller("ann", frozenset({Role.STOREFRONT}))
    assert keys.asked == 2  # each signature checked once

    now[0] += 30  # past the short token's expiry and leeway on this clock: not trusted from memory any more
    await tokens.caller(short)  # (PyJWT's own clock still finds it valid: it verifies, and is checked again)
    assert keys.asked == 3
    assert await tokens.caller(long) == Caller("ann", frozenset({Role.STOREFRONT}))
    assert keys.asked == 3

    now[0] += 61  # a minute after its check, the long-lived token is checked again
    await tokens.caller(long)
    assert keys.asked == 4


async def test_a_refused_token_is_not_remembered() -> None:
    keys = CountingKeys(TRUSTED.public_key_pem)
    tokens = TokenVerifier(keys, TRUSTED.issuer, TRUSTED.audience, ["ES256"])
    forged = tampered(TRUSTED.token("admin"))
    for _ in range(2):
        with pytest.raises(TokenRefused, match="signature"):
            await tokens.caller(forged)
    assert keys.asked == 2
