"""The local system's identity provider: a development key pair and the bearer tokens it signs.

For `make run`, the tests and the benchmarks only: a real deployment points the services at its company
identity provider instead (README "Authentication"). Tokens are ES256 JWTs carrying the roles as scopes.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

DEV_ISSUER = "https://dev-identity.dropship.local"
DEV_AUDIENCE = "dropship"
ALL_ROLES = ("storefront", "operations", "admin")
PRIVATE_KEY_FILE = "dev-signing-key.pem"
SECRETS_KEY_FILE = "supplier-secrets.key"


@dataclass(frozen=True)
class DevIdentity:
    private_key: ec.EllipticCurvePrivateKey
    issuer: str = DEV_ISSUER
    audience: str = DEV_AUDIENCE

    @classmethod
    def generate(cls) -> DevIdentity:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def load_or_create(cls, directory: Path) -> DevIdentity:
        """The key pair kept in `directory` (made on first use, readable by its owner only)."""
        path = directory / PRIVATE_KEY_FILE
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise ValueError(f"{path} is not an EC private key")
            return cls(key)
        identity = cls.generate()
        directory.mkdir(parents=True, exist_ok=True)
        pem = identity.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        _write_private(path, pem)
        return identity

    @property
    def public_key_pem(self) -> str:
        return (
            self.private_key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def service_env(self) -> dict[str, str]:
        """The environment that makes a service trust this identity's tokens."""
        return {"AUTH_ISSUER": self.issuer, "AUTH_AUDIENCE": self.audience, "AUTH_PUBLIC_KEYS": self.public_key_pem}

    def token(
        self,
        *roles: str,
        subject: str = "dev-user",
        ttl_seconds: int = 3600,
        audience: str | None = None,
        issuer: str | None = None,
    ) -> str:
        """A signed access token granting `roles` (all three when none are named)."""
        now = int(time.time())
        claims = {
            "iss": issuer or self.issuer,
            "aud": audience or self.audience,
            "sub": subject,
            "iat": now,
            "exp": now + ttl_seconds,
            "jti": uuid.uuid4().hex,
            "scope": " ".join(roles or ALL_ROLES),
        }
        return jwt.encode(claims, self.private_key, algorithm="ES256")

    def headers(self, *roles: str, subject: str = "dev-user") -> dict[str, str]:
        """An Authorization header with a fresh token for `roles` (all three when none are named)."""
        return {"Authorization": f"Bearer {self.token(*roles, subject=subject)}"}


def local_secrets_key(directory: Path) -> str:
    """The key sealing the local gateway's supplier secrets, kept in `directory` (its database outlives a run)."""
    path = directory / SECRETS_KEY_FILE
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        _write_private(path, Fernet.generate_key())
    return path.read_text().strip()


def _write_private(path: Path, content: bytes) -> None:
    path.touch(mode=0o600)
    path.write_bytes(content)
