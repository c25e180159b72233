"""Supplier signing secrets at rest: encrypted with Fernet (AES-CBC + HMAC-SHA256, from cryptography) under keys
from the environment. The first key encrypts; every listed key decrypts, so a key can be rotated."""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SecretBox:
    def __init__(self, keys: str) -> None:
        """`keys`: comma-separated Fernet keys (Fernet.generate_key()), the current one first."""
        names = [key.strip() for key in keys.split(",") if key.strip()]
        if not names:
            raise ValueError("SUPPLIER_SECRETS_KEY is not set: supplier signing secrets cannot be stored encrypted")
        self._fernet = MultiFernet([Fernet(key) for key in names])

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode("ascii")

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode()
        except InvalidToken as exc:
            raise ValueError("a stored supplier secret does not decrypt with SUPPLIER_SECRETS_KEY") from exc
