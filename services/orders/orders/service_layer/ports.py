"""The ports the service layer talks through to the outside world: payments and customer-message channels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol


class IdempotencyKeyTaken(Exception):
    """An order repository found the idempotency key already stored by another request."""


@dataclass(frozen=True)
class PaymentTotals:
    """An order's money: what was authorized, captured (goods shipped) and released (goods never will)."""

    currency: str
    authorized: Decimal
    captured: Decimal
    released: Decimal

    @property
    def outstanding(self) -> Decimal:
        """Still authorized for units the customer is waiting for."""
        return self.authorized - self.captured - self.released

    @property
    def reconciled(self) -> bool:
        return self.captured + self.released == self.authorized


class PaymentKind(StrEnum):
    AUTHORIZATION = "authorization"
    CAPTURE = "capture"  # goods left: that part is taken
    RELEASE = "release"  # goods never will: that part is let go


@dataclass(frozen=True)
class PaymentCall:
    """One call to the payment provider; `line_no` is None for an authorization of the whole order."""

    kind: PaymentKind
    order_id: str
    line_no: int | None
    amount: Decimal
    currency: str
    reference: str  # unique per call: the provider's idempotency key


class PaymentProvider(Protocol):
    """Every call carries a unique reference: repeating a call with the same reference changes nothing."""

    async def perform(self, calls: Sequence[PaymentCall]) -> None:
        """Make the calls in their order (several orders' at once: one round trip for a batch)."""

    async def totals(self, order_id: str) -> PaymentTotals: ...


@dataclass(frozen=True)
class OutgoingMessage:
    """A rendered customer message, as a channel delivers it."""

    notification_id: int
    message_key: str
    kind: str
    order_id: str
    line_no: int | None
    recipient: str
    subject: str
    body: str
    context: dict[str, Any]
    created_at: datetime
    attempts: int = 0  # counting this one: the attempt is recorded before the message is sent
    traceparent: str | None = None  # the order's trace, which the sending continues


class MessageChannel(Protocol):
    name: str

    async def send_many(self, messages: Sequence[OutgoingMessage]) -> list[datetime | Exception]:
        """Deliver the messages, as many at a time as the channel has connections: for each, when it went or what
        it failed with (the outbox retries it). One hand-over to the channel's network thread for all of them."""

    async def close(self) -> None:
        """Let go of open connections (at shutdown)."""
