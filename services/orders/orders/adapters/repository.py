"""Repositories: load and save orders and products through the orders schema."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dropship_shared.events import Address
from orders.adapters.orm import order_lines, orders, products, shipments
from orders.domain.model import LineStatus, Order, OrderLine, Product, Shipment


class ProductRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def upsert(self, product: Product) -> None:
        values = {
            "name": product.name,
            "supplier_id": product.supplier_id,
            "supplier_sku": product.supplier_sku,
            "price": product.price,
            "cost": product.cost,
            "on_hand": product.on_hand,
        }
        result = await self._session.execute(update(products).where(products.c.sku == product.sku).values(values))
        if not result.rowcount:  # type: ignore[attr-defined]
            await self._session.execute(insert(products).values(sku=product.sku, **values))

    async def get(self, sku: str) -> Product | None:
        row = (await self._session.execute(select(products).where(products.c.sku == sku))).mappings().first()
        return Product(**row) if row else None

    async def all(self) -> list[Product]:
        rows = (await self._session.execute(select(products).order_by(products.c.sku))).mappings().all()
        return [Product(**row) for row in rows]

    async def lock_for_allocation(self, skus: Iterable[str]) -> dict[str, Product]:
        """Lock the rows in a fixed order (no deadlocks between concurrent orders) and load them."""
        rows = (
            (
                await self._session.execute(
                    select(products)
                    .where(products.c.sku.in_(sorted(set(skus))))
                    .order_by(products.c.sku)
                    .with_for_update()
                )
            )
            .mappings()
            .all()
        )
        return {row["sku"]: Product(**row) for row in rows}

    async def save_stock(self, items: Iterable[Product]) -> None:
        for product in items:
            await self._session.execute(
                update(products).where(products.c.sku == product.sku).values(on_hand=product.on_hand)
            )


class OrderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, order: Order, idempotency_key: str | None) -> None:
        await self._session.execute(
            insert(orders).values(
                order_id=order.order_id,
                customer_email=order.customer_email,
                ship_to=order.ship_to.model_dump(mode="json"),
                placed_at=order.placed_at,
                idempotency_key=idempotency_key,
            )
        )
        await self._save_lines(order, new=True)

    async def save(self, order: Order) -> None:
        await self._session.execute(delete(order_lines).where(order_lines.c.order_id == order.order_id))
        await self._save_lines(order, new=False)

    async def _save_lines(self, order: Order, new: bool) -> None:
        await self._session.execute(
            insert(order_lines),
            [
                {
                    "order_id": order.order_id,
                    "line_no": line.line_no,
                    "sku": line.sku,
                    "quantity": line.quantity,
                    "unit_price": line.unit_price,
                    "allocated_qty": line.allocated_qty,
                    "backordered_qty": line.backordered_qty,
                    "status": line.status.value,
                    "supplier_id": line.supplier_id,
                    "po_number": line.po_number,
                }
                for line in order.lines
            ],
        )
        if new:
            return
        rows = await self._session.execute(
            select(shipments.c.line_no, shipments.c.shipment_id).where(shipments.c.order_id == order.order_id)
        )
        known = {(row[0], row[1]) for row in rows}
        new_shipments = [
            {
                "order_id": order.order_id,
                "line_no": line.line_no,
                "shipment_id": shipment.shipment_id,
                "quantity": shipment.quantity,
                "carrier": shipment.carrier,
                "tracking_number": shipment.tracking_number,
                "tracking_url": shipment.tracking_url,
                "shipped_at": shipment.shipped_at,
            }
            for line in order.lines
            for shipment in line.shipments
            if (line.line_no, shipment.shipment_id) not in known
        ]
        if new_shipments:
            await self._session.execute(insert(shipments), new_shipments)

    async def get_by_idempotency_key(self, key: str) -> Order | None:
        order_id = await self._session.scalar(select(orders.c.order_id).where(orders.c.idempotency_key == key))
        return await self.get(order_id) if order_id else None

    async def get(self, order_id: str, for_update: bool = False) -> Order | None:
        query = select(orders).where(orders.c.order_id == order_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).mappings().first()
        if row is None:
            return None
        line_rows = (
            (
                await self._session.execute(
                    select(order_lines).where(order_lines.c.order_id == order_id).order_by(order_lines.c.line_no)
                )
            )
            .mappings()
            .all()
        )
        shipment_rows = (
            (
                await self._session.execute(
                    select(shipments).where(shipments.c.order_id == order_id).order_by(shipments.c.id)
                )
            )
            .mappings()
            .all()
        )
        lines = []
        for line_row in line_rows:
            line = OrderLine(
                line_no=line_row["line_no"],
                sku=line_row["sku"],
                quantity=line_row["quantity"],
                unit_price=line_row["unit_price"],
                allocated_qty=line_row["allocated_qty"],
                backordered_qty=line_row["backordered_qty"],
                status=LineStatus(line_row["status"]),
                supplier_id=line_row["supplier_id"],
                po_number=line_row["po_number"],
                shipments=[
                    Shipment(
                        shipment_id=s["shipment_id"],
                        quantity=s["quantity"],
                        carrier=s["carrier"],
                        tracking_number=s["tracking_number"],
                        tracking_url=s["tracking_url"],
                        shipped_at=s["shipped_at"],
                    )
                    for s in shipment_rows
                    if s["line_no"] == line_row["line_no"]
                ],
            )
            lines.append(line)
        return Order(
            order_id=row["order_id"],
            customer_email=row["customer_email"],
            ship_to=Address.model_validate(row["ship_to"]),
            placed_at=row["placed_at"],
            lines=lines,
        )
