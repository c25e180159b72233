"""Real bearer tokens for the tests: the suite's own development identity (a key pair made once per run).

tests/conftest.py makes every service the tests create trust it (AUTH_* in the environment), and the e2e
System is started with it, so a test only adds a header:

    httpx.Client(base_url=url, headers=bearer())            # all three roles
    client.post("/orders", json=..., headers=bearer("storefront"))
"""

from __future__ import annotations

from cryptography.fernet import Fernet

from dev_identity import DevIdentity

IDENTITY = DevIdentity.generate()
SUPPLIER_SECRETS_KEY = Fernet.generate_key().decode()


def bearer(*roles: str, subject: str = "test-user") -> dict[str, str]:
    """An Authorization header with a fresh token for `roles` (storefront, operations, admin; none: all three)."""
    return IDENTITY.headers(*roles, subject=subject)
