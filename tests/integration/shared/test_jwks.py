"""Keys from the identity provider's JWKS URL (served over real HTTP): a token signed with a published key is
accepted, a key the provider adds is picked up, and a key it does not publish is refused."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from fastapi import FastAPI

from dev_identity import DevIdentity
from dropship_shared.settings import ServiceSettings
from dropship_shared.tokens import JwksKeys, Role, TokenRefused, TokenVerifier
from support.servers import run_uvicorn_app


def jwk(identity: DevIdentity, kid: str) -> dict[str, Any]:
    published: dict[str, Any] = jwt.algorithms.ECAlgorithm.to_jwk(identity.private_key.public_key(), as_dict=True)
    return {**published, "kid": kid, "alg": "ES256", "use": "sig"}


def token(identity: DevIdentity, kid: str, *roles: str) -> str:
    claims = jwt.decode(identity.token(*roles), options={"verify_signature": False})
    return jwt.encode(claims, identity.private_key, algorithm="ES256", headers={"kid": kid})


async def test_tokens_are_verified_with_the_keys_the_provider_publishes() -> None:
    current, rotated, stranger = DevIdentity.generate(), DevIdentity.generate(), DevIdentity.generate()
    published = [jwk(current, "k1")]
    provider = FastAPI()

    @provider.get("/certs")
    async def certs() -> dict[str, Any]:
        return {"keys": published}

    with run_uvicorn_app(provider) as url:
        settings = ServiceSettings(
            auth_issuer=current.issuer, auth_audience=current.audience, auth_jwks_url=f"{url}/certs"
        )
        configured = TokenVerifier.from_settings(settings)
        assert (await configured.caller(token(current, "k1", "storefront"))).roles == {Role.STOREFRONT}
        verifier = TokenVerifier(
            JwksKeys(f"{url}/certs", refetch_cooldown_seconds=0), current.issuer, current.audience, ["ES256"]
        )
        assert (await verifier.caller(token(current, "k1", "operations"))).roles == {Role.OPERATIONS}
        published.append(jwk(rotated, "k2"))  # the provider rotates: an unknown kid makes us fetch again
        assert (await verifier.caller(token(rotated, "k2", "admin"))).roles == {Role.ADMIN}
        with pytest.raises(TokenRefused, match="keys"):
            await verifier.caller(token(stranger, "k9", "admin"))
        with pytest.raises(TokenRefused, match="signature"):
            await verifier.caller(token(stranger, "k1", "admin"))
