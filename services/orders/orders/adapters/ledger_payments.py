"""The built-in payment provider: a ledger of authorizations, captures and releases in the orders database."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dropship_shared.db import insert_many
from dropship_shared.events import utcnow
from orders.adapters.orm import payment_ledger
from orders.service_layer.ports import PaymentCall, PaymentTotals


class LedgerPaymentProvider:
    """Writes in the order's own transaction, so money and line status can never disagree; the unique
    reference makes every call idempotent, as a real provider's idempotency key would."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def perform(self, calls: Sequence[PaymentCall]) -> None:
        now = utcnow()
        await insert_many(
            self._session,
            payment_ledger,
            [
                {
                    "order_id": call.order_id,
                    "line_no": call.line_no,
                    "kind": call.kind.value,
                    "amount": call.amount,
                    "currency": call.currency,
                    "reference": call.reference,
                    "recorded_at": now,
                }
                for call in calls
            ],
            ignore_duplicates=True,
        )

    async def totals(self, order_id: str) -> PaymentTotals:
        rows = await self._session.execute(
            select(payment_ledger.c.kind, payment_ledger.c.amount, payment_ledger.c.currency).where(
                payment_ledger.c.order_id == order_id
            )
        )
        sums = {"authorization": Decimal(0), "capture": Decimal(0), "release": Decimal(0)}
        currency = "USD"
        for kind, amount, row_currency in rows:
            sums[kind] += amount  # summed in Python: Money is text on SQLite, so SUM() would be a float
            currency = row_currency
        return PaymentTotals(currency, sums["authorization"], sums["capture"], sums["release"])
