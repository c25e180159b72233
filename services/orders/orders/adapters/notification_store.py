"""The customer-message outbox: rendered and stored with their cause, then claimed, sent and marked."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
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

    async def claim_due(self, channel: str, now: datetime, lease: timedelta, limit: int) -> list[OutgoingMessage]:
        """Take due messages for a while (the lease) so no other replica sends them meanwhile."""
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
                update(table).where(table.c.id.in_([row["id"] for row in rows])).values(next_attempt_at=now + lease)
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
                attempts=row["attempts"],
            )
            for row in rows
        ]

    async def mark_sent(self, notification_id: int, now: datetime) -> None:
        await self._session.execute(
            update(notifications)
            .where(notifications.c.id == notification_id)
            .values(sent_at=now, attempts=notifications.c.attempts + 1, last_error=None)
        )

    async def mark_failed(self, notification_id: int, error: str, retry_at: datetime) -> None:
        await self._session.execute(
            update(notifications)
            .where(notifications.c.id == notification_id)
            .values(attempts=notifications.c.attempts + 1, last_error=error[:500], next_attempt_at=retry_at)
        )

    async def for_order(self, order_id: str) -> list[dict[str, object]]:
        rows = await self._session.execute(
            select(notifications).where(notifications.c.order_id == order_id).order_by(notifications.c.id)
        )
        return [dict(row) for row in rows.mappings().all()]
