"""The customer-message outbox: rendered and stored with their cause, then claimed, sent and marked."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime, timedelta
from operator import attrgetter

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from dropship_shared.db import insert_many
from dropship_shared.tracing import current_traceparent, traceparent_of
from orders.adapters.message_templates import MessageTemplates
from orders.adapters.orm import notifications
from orders.domain.effects import CustomerMessage, MessageKind
from orders.service_layer.ports import OutgoingMessage

# What a channel needs of a stored message: OutgoingMessage's fields in their order, the row's id first.
_OUTGOING_COLUMNS = ("id", *(field.name for field in fields(OutgoingMessage)[1:]))

# The sender's statements, built once: SQLAlchemy computes a new statement object's cache key each time it runs,
# and the sender runs these several times a second under load.
_DUE = (
    select(notifications.c.id)
    .where(
        notifications.c.channel == bindparam("of_channel"),
        notifications.c.sent_at.is_(None),
        notifications.c.next_attempt_at <= bindparam("now"),
    )
    .order_by(notifications.c.id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_CLAIM = (
    update(notifications)
    .where(notifications.c.id.in_(_DUE.scalar_subquery()))
    .values(
        next_attempt_at=bindparam("lease_ends"),
        attempts=notifications.c.attempts + 1,
        claimed_by=bindparam("claimant"),
        in_flight_since=bindparam("now"),
    )
    .returning(*(notifications.c[name] for name in _OUTGOING_COLUMNS))
)
_MARK_SENT = (
    update(notifications)
    .where(notifications.c.id == bindparam("notification_id"))
    .values(sent_at=bindparam("went_at"), last_error=None, in_flight_since=None)
)
# PostgreSQL: the messages that went as two arrays (ids, times), one execution for them all, where an
# executemany is a Bind/Execute per message on the server and a parameter set built per message here.
_WENT = (
    func.unnest(
        bindparam("notification_ids", type_=ARRAY(notifications.c.id.type, dimensions=1)),
        bindparam("went_ats", type_=ARRAY(notifications.c.sent_at.type, dimensions=1)),
    )
    .table_valued("notification_id", "went_at")
    .render_derived()
)
_MARK_SENT_TOGETHER = (
    update(notifications)
    .where(notifications.c.id == _WENT.c.notification_id)
    .values(sent_at=_WENT.c.went_at, last_error=None, in_flight_since=None)
)
_MARK_FAILED = (
    update(notifications)
    .where(notifications.c.id == bindparam("notification_id"))
    .values(last_error=bindparam("error"), next_attempt_at=bindparam("retry_at"), in_flight_since=None)
)


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
        self.enqueued = False  # whether this transaction stored a message (the sender is woken on commit)
        self._traces: dict[str, str] = {}  # order id → the trace its messages of this transaction belong to

    def follow_trace(self, order_id: str, correlation_id: str) -> None:
        """The order's messages written in this transaction go in the trace of the request or event with this
        correlation id (in a transaction of several, not the first one's); the first that changed the order wins."""
        if order_id in self._traces:
            return
        traceparent = traceparent_of(correlation_id)
        if traceparent is not None:
            self._traces[order_id] = traceparent

    async def enqueue(self, messages: list[tuple[CustomerMessage, str]], now: datetime) -> None:
        """Each message (with its recipient) rendered, one row per channel, all in one statement; a message
        key seen before (a redelivered event) adds nothing."""
        rows = []
        traceparent = current_traceparent()
        for message, recipient in messages:
            context = {"order_id": message.order_id, **message.context}
            if message.kind == MessageKind.SHIPPED:
                context["tracking_link"] = context.get("tracking_url") or self._tracking_url_template.format(
                    carrier=context["carrier"], tracking_number=context["tracking_number"]
                )
            rendered = self._templates.render(message.kind.value, context)
            rows += [
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
                    "traceparent": self._traces.get(message.order_id, traceparent),
                }
                for channel in self._channels
            ]
        if rows:
            self.enqueued = True
            await insert_many(self._session, notifications, rows, ignore_duplicates=True)

    async def claim_due(
        self, channel: str, now: datetime, lease: timedelta, limit: int, claimant: str
    ) -> list[OutgoingMessage]:
        """Take due messages for a while (the lease) so no other replica sends them meanwhile, and record
        the attempt before anything is sent: a message in flight is known as such if the sender dies.
        One statement: the claim costs the delivery one round trip, however many messages it takes."""
        rows = await self._session.execute(
            _CLAIM, {"of_channel": channel, "now": now, "limit": limit, "lease_ends": now + lease, "claimant": claimant}
        )
        return sorted((OutgoingMessage(*row) for row in rows), key=attrgetter("notification_id"))

    async def mark_sent(self, sent: list[tuple[int, datetime]]) -> None:
        """Messages that went, each with when: one statement for all of them (on SQLite one trip to the driver's
        thread, which runs it for each)."""
        if not sent:
            return
        if self._session.get_bind().dialect.name == "postgresql":
            notification_ids, went_ats = zip(*sent, strict=True)
            await self._session.execute(
                _MARK_SENT_TOGETHER, {"notification_ids": list(notification_ids), "went_ats": list(went_ats)}
            )
            return
        await self._session.execute(
            _MARK_SENT, [{"notification_id": notification_id, "went_at": at} for notification_id, at in sent]
        )

    async def mark_failed(self, failed: list[tuple[int, str, datetime]]) -> None:
        """Messages that did not go, each with its error and when to try again."""
        if failed:
            await self._session.execute(
                _MARK_FAILED,
                [
                    {"notification_id": notification_id, "error": error[:500], "retry_at": retry_at}
                    for notification_id, error, retry_at in failed
                ],
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
