"""Supplier signing secrets are stored sealed (Fernet, key from the environment) on both engines, opened only in
memory, never answered by the API; the migration seals the plain secrets of an existing database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import httpx
import pytest
from alembic import command
from alembic.config import Config
from cryptography.fernet import Fernet
from sqlalchemy import insert, select

from dropship_shared.db import create_engine, session_factory
from dropship_shared.migrations import upgrade_to_head
from supplier_gateway.adapters.orm import inbox, outbox, suppliers
from supplier_gateway.adapters.secret_box import SecretBox
from supplier_gateway.bootstrap import MIGRATIONS, create_app
from supplier_gateway.config import GatewaySettings
from supplier_gateway.domain.supplier import Supplier, SupplierProtocol
from supplier_gateway.service_layer.unit_of_work import GatewayUnitOfWork
from support.tokens import SUPPLIER_SECRETS_KEY, bearer

SECRET = "a-very-secret-signing-key"


async def stored_secret(database_url: str, supplier_id: str) -> str:
    engine = create_engine(database_url)
    async with engine.connect() as connection:
        value = await connection.scalar(
            select(suppliers.c.signing_secret).where(suppliers.c.supplier_id == supplier_id)
        )
    await engine.dispose()
    return str(value)


async def test_a_secret_is_stored_sealed_and_opened_in_memory(database_url: str) -> None:
    await asyncio.to_thread(upgrade_to_head, str(MIGRATIONS), database_url)
    engine = create_engine(database_url)
    box = SecretBox(SUPPLIER_SECRETS_KEY)
    supplier = Supplier("acme", "ACME", SupplierProtocol.HTTP, "http://127.0.0.1:9", SECRET)
    async with GatewayUnitOfWork(session_factory(engine), outbox, inbox, secrets=box) as uow:
        await uow.suppliers.upsert(supplier, datetime.now(UTC))
        await uow.commit()
    async with GatewayUnitOfWork(session_factory(engine), outbox, inbox, secrets=box) as uow:
        found = await uow.suppliers.get("acme")
    await engine.dispose()
    assert found is not None and found.signing_secret == SECRET
    sealed = await stored_secret(database_url, "acme")
    assert SECRET not in sealed and box.open(sealed) == SECRET
    with pytest.raises(ValueError, match="does not decrypt"):
        SecretBox(Fernet.generate_key().decode()).open(sealed)


async def test_a_rotated_key_still_opens_what_the_old_one_sealed() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed = SecretBox(old).seal(SECRET)
    assert SecretBox(f"{new},{old}").open(sealed) == SECRET


def test_without_a_key_the_gateway_does_not_start(monkeypatch: pytest.MonkeyPatch, sqlite_url: str) -> None:
    monkeypatch.delenv("SUPPLIER_SECRETS_KEY")
    with pytest.raises(ValueError, match="SUPPLIER_SECRETS_KEY"):
        create_app(GatewaySettings(database_url=sqlite_url))


async def test_the_api_never_answers_a_secret(sqlite_url: str) -> None:
    await asyncio.to_thread(upgrade_to_head, str(MIGRATIONS), sqlite_url)
    app = create_app(GatewaySettings(database_url=sqlite_url, log_json=False))
    body = {"protocol": "http", "base_url": "http://127.0.0.1:9", "signing_secret": SECRET}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway", headers=bearer("admin")
    ) as http:
        answers = [
            await http.put("/suppliers/acme", json=body),
            await http.get("/suppliers"),
            await http.get("/suppliers/acme"),
            await http.get("/admin/audit"),
        ]
    await app.state.runtime.engine.dispose()
    assert all(answer.status_code == 200 for answer in answers)
    assert not [answer.text for answer in answers if SECRET in answer.text]


async def test_the_migration_seals_existing_plain_secrets(database_url: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    await asyncio.to_thread(command.upgrade, config, "0003")  # before sealing: the secret stored as given
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await connection.execute(
            insert(suppliers).values(
                supplier_id="old",
                name="Old",
                protocol="http",
                base_url="http://127.0.0.1:9",
                signing_secret=SECRET,
                polling=False,
                active=True,
                updated_at=datetime.now(UTC),
            )
        )
    await engine.dispose()
    await asyncio.to_thread(upgrade_to_head, str(MIGRATIONS), database_url)
    sealed = await stored_secret(database_url, "old")
    assert sealed != SECRET and SecretBox(SUPPLIER_SECRETS_KEY).open(sealed) == SECRET
