"""The customer-message outbox: rendered and stored with their cause, then claimed, sent and marked."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orders.adapters.message_templates import MessageTemplates
from orders.adapters.orm import notifications
from orders.adapters.repository import insert_ignoring_duplicates
from orders.domain.effects import CustomerMessage, MessageKind
from orders.service_layer.ports import OutgoingMessage


class NotificationStore:
    def __init__(
        self,
        session: AsyncSession,
        templates: MessageTemplates,
        channels: list[str],
        tracking_url_template: str,
    ) -> None:
        self._session = session
        self._templates = templates
        self._channels = channels
        self._tracking_url_template = tracking_url_template

    async def enqueue(self, message: CustomerMessage, recipient: str, now: datetime) -> None:
        """One row per channel; a message key seen before (a redelivered event) adds nothing."""
        context = {"order_id": message.order_id, **message.context}
        if message.kind == MessageKind.SHIPPED:
            context["tracking_link"] = context.get("tracking_url") or self._tracking_url_template.format(
                carrier=context["carrier"], tracking_number=context["tracking_number"]
            )
        rendered = self._templates.render(message.kind.value, context)
        for channel in self._channels:
            await insert_ignoring_duplicates(
                self._session,
                notifications,
                {
                    "message_key": message.key,
                    "channel": channel,
                    "kind": message.kind.value,
                    "order_id": message.order_id,
                    "line_no": message.line_no,
                    "recipient": recipient,
                    "subject": rendered.subject,
                    "body": rendered.body,
                    "context": context,
                    "created_at": now,
                    "attempts": 0,
                    "next_attempt_at": now,
                },
            )

    async def claim_due(
        self, channel: str, now: datetime, lease: timedelta, limit: int, claimant: str
    ) -> list[OutgoingMessage]:
        """Take due messages for a while (the lease) so no other replica sends them meanwhile, and record
        the attempt before anything is sent: a message in flight is known as such if the sender dies."""
        table = notifications
        rows = (
            (
                await self._session.execute(
                    select(table)
                    .where(table.c.channel == channel, table.c.sent_at.is_(None), table.c.next_attempt_at <= now)
                    .order_by(table.c.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            )
            .mappings()
            .all()
        )
        if rows:
            await self._session.execute(
                update(table)
                .where(table.c.id.in_([row["id"] for row in rows]))
                .values(
                    next_attempt_at=now + lease,
                    attempts=table.c.attempts + 1,
                    claimed_by=claimant,
                    in_flight_since=now,
                )
            )
        return [
            OutgoingMessage(
                notification_id=row["id"],
                message_key=row["message_key"],
                kind=row["kind"],
                order_id=row["order_id"],
                line_no=row["line_no"],
                recipient=row["recipient"],
                subject=row["subject"],
                body=row["body"],
                context=row["context"],
                created_at=row["created_at"],
                attempts=row["attempts"] + 1,
            )
            for row in rows
        ]

    async def mark_sent(self, notification_id: int, now: datetime) -> None:
        await self._session.execute(
            update(notifications)
            .where(notifications.c.id == notification_id)
            .values(sent_at=now, last_error=None, in_flight_since=None)
        )

    async def mark_failed(self, notification_id: int, error: str, retry_at: datetime) -> None:
        await self._session.execute(
            update(notifications)
            .where(notifications.c.id == notification_id)
            .values(last_error=error[:500], next_attempt_at=retry_at, in_flight_since=None)
        )

    async def reclaim_in_doubt(self, claimant: str, now: datetime) -> int:
        """Messages `claimant` was sending when it stopped: make them due now; the number of them."""
        table = notifications
        result = await self._session.execute(
            update(table)
            .where(table.c.claimed_by == claimant, table.c.sent_at.is_(None), table.c.in_flight_since.is_not(None))
            .values(next_attempt_at=now, in_flight_since=None)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def backlog(self) -> tuple[int, datetime | None]:
        """Messages not sent yet, and when the oldest of them was created."""
        table = notifications
        row = (
            await self._session.execute(
                select(func.count(), func.min(table.c.created_at)).where(table.c.sent_at.is_(None))
            )
        ).one()
        return int(row[0]), row[1]

    async def for_order(self, order_id: str) -> list[dict[str, object]]:
        rows = await self._session.execute(
            select(notifications).where(notifications.c.order_id == order_id).order_by(notifications.c.id)
        )
        return [dict(row) for row in rows.mappings().all()]
