"""The supplier gateway over ASGI in a test thread's event loop, with one X12 supplier and one sent PO: for
sync tests (hypothesis) that post interchanges and look at what changed in the database."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from anyio.from_thread import BlockingPortal, start_blocking_portal
from sqlalchemy import func, select

from dropship_shared.events import Envelope, PurchaseOrderRequested, utcnow
from dropship_shared.signing import sign
from supplier_gateway.adapters.orm import outbox, purchase_order_lines, x12_interchanges
from supplier_gateway.bootstrap import create_app
from supplier_gateway.config import GatewaySettings
from supplier_gateway.service_layer import handlers
from support.tokens import bearer

SECRET = "edi-signing-secret-0123456789"
ISA = "ISA*00*          *00*          *ZZ*EDISUPPLIER    *ZZ*DROPSHIPBUYER  *261127*1200*U*00401*{isa13}*0*P*>~"
T = TypeVar("T")


def interchange(group: str, number: int, iea: bool = True) -> str:
    """``group`` (with {gs06} and {isa13} placeholders) in an interchange from supplier EDISUPPLIER to us."""
    isa13 = str(number).zfill(9)
    text = ISA.format(isa13=isa13) + group.format(gs06=number, isa13=isa13)
    return text + (f"IEA*1*{isa13}~" if iea else "")


@dataclass
class EdiGateway:
    portal: BlockingPortal
    client: httpx.AsyncClient
    app: Any

    def run(self, call: Callable[[], Awaitable[T]]) -> T:
        return self.portal.call(call)

    def post(self, body: bytes | str, event_id: str | None = None) -> httpx.Response:
        raw = body.encode() if isinstance(body, str) else body
        headers = sign(SECRET, raw, event_id=event_id)
        return self.run(lambda: self.client.post("/suppliers/edi/edi", content=raw, headers=headers))

    def snapshot(self) -> tuple[int, int, int]:
        """Events written, units shipped, interchanges applied: what an applied set changes."""

        async def read() -> tuple[int, int, int]:
            async with self.app.state.runtime.engine.connect() as connection:
                events = await connection.scalar(select(func.count()).select_from(outbox))
                shipped = await connection.scalar(
                    select(func.coalesce(func.sum(purchase_order_lines.c.shipped_qty), 0))
                )
                applied = await connection.scalar(
                    select(func.count()).select_from(x12_interchanges).where(x12_interchanges.c.status != "rejected")
                )
            return int(events or 0), int(shipped or 0), int(applied or 0)

        return self.run(read)


@contextlib.contextmanager
def edi_gateway(database_url: str, sent: PurchaseOrderRequested, **settings: Any) -> Iterator[EdiGateway]:
    """The gateway app over ASGI, database migrated, X12 supplier "edi" and the PO ``sent`` (placed).

    No lifespan: events stay in the outbox, and no background loop runs."""
    app = create_app(GatewaySettings(database_url=database_url, log_json=False, log_level="ERROR", **settings))
    with start_blocking_portal() as portal:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway", timeout=60, headers=bearer()
        )
        portal.call(lambda: _prepare(app, client, sent))
        try:
            yield EdiGateway(portal, client, app)
        finally:
            portal.call(client.aclose)
            portal.call(app.state.runtime.engine.dispose)


async def _prepare(app: Any, client: httpx.AsyncClient, sent: PurchaseOrderRequested) -> None:
    await app.state.runtime.migrate()
    registered = await client.put(
        "/suppliers/edi",
        json={
            "protocol": "x12",
            "base_url": "http://127.0.0.1:9/inbox",
            "signing_secret": SECRET,
            "x12": {"isa_qualifier": "ZZ", "isa_id": "EDISUPPLIER", "gs_id": "EDISUPGS"},
        },
    )
    assert registered.status_code == 200, registered.text
    uow_factory = app.state.uow_factory
    await handlers.on_purchase_order_requested(uow_factory, Envelope.wrap(sent, "edi-tests"))
    async with uow_factory() as uow:
        po = await uow.purchase_orders.get(sent.po_number, for_update=True)
        po.mark_placed(None, utcnow())
        await uow.purchase_orders.save(po)
        await uow.commit()
