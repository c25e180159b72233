"""Repositories: load and save suppliers and purchase orders; claim POs for sending across replicas."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from dropship_shared.events import Address
from dropship_shared.tracing import current_traceparent
from dropship_shared.unit_of_work import CollectEvents
from supplier_gateway.adapters.orm import (
    purchase_order_history,
    purchase_order_lines,
    purchase_order_shipments,
    purchase_orders,
    supplier_events,
    suppliers,
)
from supplier_gateway.adapters.secret_box import SecretBox
from supplier_gateway.domain.purchase_order import (
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderState,
    StateChange,
)
from supplier_gateway.domain.supplier import Supplier, SupplierProtocol, TradingPartner
from supplier_gateway.domain.supplier_messages import AcknowledgedLineStatus


async def insert_ignoring_duplicates(session: AsyncSession, table: Any, values: dict[str, Any]) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING on either engine; False when the row existed."""
    connection = await session.connection()
    dialect_insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    result = await session.execute(dialect_insert(table).values(values).on_conflict_do_nothing())
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def lease_rows(session: AsyncSession, table: Any, condition: Any, limit: int, lease: dict[str, Any]) -> list[Any]:
    """Lock up to `limit` rows of `table` (by its `id`) matching `condition`, oldest first, skipping rows another
    replica holds (SKIP LOCKED; SQLite serialises the transactions), and set `lease` on them."""
    rows = (
        (
            await session.execute(
                select(table).where(condition).order_by(table.c.id).limit(limit).with_for_update(skip_locked=True)
            )
        )
        .mappings()
        .all()
    )
    if rows:
        await session.execute(update(table).where(table.c.id.in_([row["id"] for row in rows])).values(lease))
    return list(rows)


class SupplierRepository:
    """Suppliers, with their signing secrets sealed in the database and opened only in memory."""

    def __init__(self, session: AsyncSession, secrets: SecretBox) -> None:
        self._session = session
        self._secrets = secrets

    async def upsert(self, supplier: Supplier, at: datetime) -> None:
        partner = supplier.x12_partner
        values = {
            "name": supplier.name,
            "protocol": supplier.protocol.value,
            "base_url": supplier.base_url,
            "signing_secret": self._secrets.seal(supplier.signing_secret),
            "polling": supplier.polling,
            "requests_per_second": supplier.requests_per_second,
            "timeout_seconds": supplier.timeout_seconds,
            "x12_isa_qualifier": partner.isa_qualifier if partner else None,
            "x12_isa_id": partner.isa_id if partner else None,
            "x12_gs_id": partner.gs_id if partner else None,
            "x12_acknowledgement_url": partner.acknowledgement_url if partner else None,
            "active": supplier.active,
            "give_up_attempts": supplier.give_up_attempts,
            "give_up_seconds": supplier.give_up_seconds,
            "updated_at": at,
        }
        result = await self._session.execute(
            update(suppliers).where(suppliers.c.supplier_id == supplier.supplier_id).values(values)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            await self._session.execute(insert(suppliers).values(supplier_id=supplier.supplier_id, **values))

    async def get(self, supplier_id: str) -> Supplier | None:
        row = (await self._session.execute(select(suppliers).where(suppliers.c.supplier_id == supplier_id))).mappings()
        found = row.first()
        return self._supplier(found) if found else None

    async def all(self) -> list[Supplier]:
        rows = (await self._session.execute(select(suppliers).order_by(suppliers.c.supplier_id))).mappings().all()
        return [self._supplier(row) for row in rows]

    async def polling(self) -> list[Supplier]:
        rows = (
            (await self._session.execute(select(suppliers).where(suppliers.c.polling.is_(True), suppliers.c.active)))
            .mappings()
            .all()
        )
        return [self._supplier(row) for row in rows]

    def _supplier(self, row: Any) -> Supplier:
        partner = (
            TradingPartner(
                row["x12_isa_qualifier"], row["x12_isa_id"], row["x12_gs_id"], row["x12_acknowledgement_url"]
            )
            if row["x12_isa_id"] is not None
            else None
        )
        return Supplier(
            supplier_id=row["supplier_id"],
            name=row["name"],
            protocol=SupplierProtocol(row["protocol"]),
            base_url=row["base_url"],
            signing_secret=self._secrets.open(row["signing_secret"]),
            polling=row["polling"],
            requests_per_second=row["requests_per_second"],
            timeout_seconds=row["timeout_seconds"],
            x12_partner=partner,
            active=row["active"],
            give_up_attempts=row["give_up_attempts"],
            give_up_seconds=row["give_up_seconds"],
        )


class PurchaseOrderRepository:
    """`collect` is the unit of work's: a saved PO's new events go to the outbox with the commit."""

    def __init__(self, session: AsyncSession, collect: CollectEvents) -> None:
        self._session = session
        self._collect = collect
        self._loaded: dict[str, tuple[int, set[str]]] = {}  # history length and shipment ids as loaded

    async def add(self, po: PurchaseOrder) -> None:
        await self._session.execute(
            insert(purchase_orders).values(
                po_number=po.po_number,
                supplier_id=po.supplier_id,
                currency=po.currency,
                release_reason=po.release_reason,
                below_minimum=po.below_minimum,
                created_at=po.created_at,
                correlation_id=po.correlation_id,
                traceparent=current_traceparent(),
                send_attempts=0,
                poll_cursor=0,
                **self._header(po),
            )
        )
        await self._session.execute(insert(purchase_order_lines), [self._line(po, line) for line in po.lines])
        self._loaded[po.po_number] = (0, set())
        await self._save_children(po)
        self._collect(po)

    async def save(self, po: PurchaseOrder) -> None:
        await self._session.execute(
            update(purchase_orders).where(purchase_orders.c.po_number == po.po_number).values(self._header(po))
        )
        for line in po.lines:
            values = self._line(po, line)
            await self._session.execute(
                update(purchase_order_lines)
                .where(purchase_order_lines.c.po_number == po.po_number, purchase_order_lines.c.line_no == line.line_no)
                .values(values)
            )
        await self._save_children(po)
        self._collect(po)

    async def exists(self, po_number: str) -> bool:
        found = await self._session.scalar(
            select(purchase_orders.c.po_number).where(purchase_orders.c.po_number == po_number)
        )
        return found is not None

    async def get(self, po_number: str, for_update: bool = False) -> PurchaseOrder | None:
        query = select(purchase_orders).where(purchase_orders.c.po_number == po_number)
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).mappings().first()
        if row is None:
            return None
        line_rows = (
            (
                await self._session.execute(
                    select(purchase_order_lines)
                    .where(purchase_order_lines.c.po_number == po_number)
                    .order_by(purchase_order_lines.c.line_no)
                )
            )
            .mappings()
            .all()
        )
        history_rows = (
            await self._session.execute(
                select(purchase_order_history)
                .where(purchase_order_history.c.po_number == po_number)
                .order_by(purchase_order_history.c.seq)
            )
        ).mappings()
        shipment_ids = set(
            (
                await self._session.scalars(
                    select(purchase_order_shipments.c.shipment_id).where(
                        purchase_order_shipments.c.po_number == po_number
                    )
                )
            ).all()
        )
        po = PurchaseOrder(
            po_number=row["po_number"],
            supplier_id=row["supplier_id"],
            currency=row["currency"],
            release_reason=row["release_reason"],
            below_minimum=row["below_minimum"],
            lines=[_line(line) for line in line_rows],
            state=PurchaseOrderState(row["state"]),
            created_at=row["created_at"],
            supplier_order_id=row["supplier_order_id"],
            acknowledgement=row["acknowledgement"],
            failure_reason=row["failure_reason"],
            correlation_id=row["correlation_id"],
            shipment_ids=shipment_ids,
            history=[StateChange(PurchaseOrderState(h["state"]), h["at"], h["note"]) for h in history_rows],
        )
        self._loaded[po_number] = (len(po.history), set(shipment_ids))
        return po

    async def lock(self, po_numbers: list[str]) -> None:
        """Lock these POs for the transaction in one statement, in PO-number order (rows are locked as the
        sorted scan returns them): whoever locks several POs this way never waits on another in a cycle.
        SQLite serialises writers anyway."""
        if po_numbers:
            await self._session.execute(
                select(purchase_orders.c.po_number)
                .where(purchase_orders.c.po_number.in_(sorted(po_numbers)))
                .order_by(purchase_orders.c.po_number)
                .with_for_update()
            )

    async def with_ship_dates_before(self, day: date, limit: int) -> list[str]:
        """Acknowledged POs with a line whose expected ship date is before `day` (candidates for lateness)."""
        rows = await self._session.scalars(
            select(purchase_orders.c.po_number)
            .join(purchase_order_lines, purchase_order_lines.c.po_number == purchase_orders.c.po_number)
            .where(
                purchase_orders.c.state.in_(
                    [PurchaseOrderState.ACKNOWLEDGED.value, PurchaseOrderState.PARTIALLY_SHIPPED.value]
                ),
                purchase_order_lines.c.expected_ship_date < day,
            )
            .distinct()
            .order_by(purchase_orders.c.po_number)
            .limit(limit)
        )
        return list(rows.all())

    async def search(
        self,
        state: PurchaseOrderState | None = None,
        supplier_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
        po_numbers: Sequence[str] = (),
        sku: str | None = None,
    ) -> list[PurchaseOrder]:
        """Newest first; `po_numbers` and `sku` narrow it to those POs, or to POs with a line of that SKU."""
        query = (
            select(purchase_orders.c.po_number)
            .order_by(purchase_orders.c.created_at.desc(), purchase_orders.c.po_number.desc())
            .limit(limit)
            .offset(offset)
        )
        if state is not None:
            query = query.where(purchase_orders.c.state == state.value)
        if supplier_id is not None:
            query = query.where(purchase_orders.c.supplier_id == supplier_id)
        if po_numbers:
            query = query.where(purchase_orders.c.po_number.in_(list(po_numbers)))
        if sku is not None:
            with_sku = select(purchase_order_lines.c.po_number).where(purchase_order_lines.c.sku == sku)
            query = query.where(purchase_orders.c.po_number.in_(with_sku))
        numbers = (await self._session.scalars(query)).all()
        found = [await self.get(number) for number in numbers]
        return [po for po in found if po is not None]

    # -- internals ----------------------------------------------------------------------------
    @staticmethod
    def _header(po: PurchaseOrder) -> dict[str, Any]:
        return {
            "state": po.state.value,
            "supplier_order_id": po.supplier_order_id,
            "acknowledgement": po.acknowledgement,
            "failure_reason": po.failure_reason,
            "updated_at": po.history[-1].at if po.history else po.created_at,
        }

    @staticmethod
    def _line(po: PurchaseOrder, line: PurchaseOrderLine) -> dict[str, Any]:
        return {
            "po_number": po.po_number,
            "line_no": line.line_no,
            "backorder_line_id": line.backorder_line_id,
            "sku": line.sku,
            "supplier_sku": line.supplier_sku,
            "quantity": line.quantity,
            "unit_cost": line.unit_cost,
            "ship_to": line.ship_to.model_dump(mode="json"),
            "customer_ref": line.customer_ref,
            "status": line.status.value,
            "acknowledged_as": line.acknowledged_as.value if line.acknowledged_as else None,
            "accepted_qty": line.accepted_qty,
            "rejected_qty": line.rejected_qty,
            "shipped_qty": line.shipped_qty,
            "cancelled_qty": line.cancelled_qty,
            "expected_ship_date": line.expected_ship_date,
            "reason": line.reason,
        }

    async def _save_children(self, po: PurchaseOrder) -> None:
        history_length, shipment_ids = self._loaded.get(po.po_number, (0, set()))
        new_history = po.history[history_length:]
        if new_history:
            await self._session.execute(
                insert(purchase_order_history),
                [
                    {
                        "po_number": po.po_number,
                        "seq": seq,
                        "state": change.state.value,
                        "at": change.at,
                        "note": change.note,
                    }
                    for seq, change in enumerate(new_history, start=history_length + 1)
                ],
            )
        new_shipments = sorted(po.shipment_ids - shipment_ids)
        if new_shipments:
            at = po.history[-1].at if po.history else po.created_at
            await self._session.execute(
                insert(purchase_order_shipments),
                [{"po_number": po.po_number, "shipment_id": sid, "recorded_at": at} for sid in new_shipments],
            )
        self._loaded[po.po_number] = (len(po.history), set(po.shipment_ids))


def _line(row: Any) -> PurchaseOrderLine:
    return PurchaseOrderLine(
        line_no=row["line_no"],
        backorder_line_id=row["backorder_line_id"],
        sku=row["sku"],
        supplier_sku=row["supplier_sku"],
        quantity=row["quantity"],
        unit_cost=row["unit_cost"],
        ship_to=Address.model_validate(row["ship_to"]),
        customer_ref=row["customer_ref"],
        acknowledged_as=AcknowledgedLineStatus(row["acknowledged_as"]) if row["acknowledged_as"] else None,
        accepted_qty=row["accepted_qty"],
        rejected_qty=row["rejected_qty"],
        shipped_qty=row["shipped_qty"],
        cancelled_qty=row["cancelled_qty"],
        expected_ship_date=row["expected_ship_date"],
        reason=row["reason"],
    )


class SupplierEventLog:
    """Event ids of applied supplier messages (replay protection of signed callbacks and the polling feed)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def record(self, supplier_id: str, event_id: str, kind: str, po_number: str | None, at: datetime) -> bool:
        """False when this event id was applied before."""
        return await insert_ignoring_duplicates(
            self._session,
            supplier_events,
            {"supplier_id": supplier_id, "event_id": event_id, "kind": kind, "po_number": po_number, "received_at": at},
        )

    async def seen(self, supplier_id: str, event_id: str) -> bool:
        found = await self._session.scalar(
            select(supplier_events.c.event_id).where(
                supplier_events.c.supplier_id == supplier_id, supplier_events.c.event_id == event_id
            )
        )
        return found is not None
