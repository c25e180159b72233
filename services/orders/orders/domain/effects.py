"""What a change to an order asks of the outside world besides events: customer messages and money movements."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any


class MessageKind(StrEnum):
    BACKORDER_PLACED = "backorder_placed"
    DATE_MOVED = "date_moved"  # later, with an apology
    DATE_IMPROVED = "date_improved"  # earlier: good news
    WAIT_EXTENDED = "wait_extended"
    SHIPPED = "shipped"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    CANCEL_REFUSED = "cancel_refused"


@dataclass(frozen=True)
class CustomerMessage:
    """A message owed to the customer; `key` makes it unique so it is queued (and sent) once."""

    kind: MessageKind
    order_id: str
    key: str
    line_no: int | None = None
    context: dict[str, Any] = field(default_factory=dict)


class MovementKind(StrEnum):
    CAPTURE = "capture"
    RELEASE = "release"
    REAUTHORIZE = "reauthorize"  # released units shipped after all: authorized again, then captured


@dataclass(frozen=True)
class MoneyMovement:
    """Capture (goods left) or release (goods never will) part of the order's authorization."""

    kind: MovementKind
    order_id: str
    line_no: int
    amount: Decimal
    reference: str  # unique per movement: the provider's idempotency key


@dataclass(frozen=True)
class ConsolationCredit:
    order_id: str
    line_no: int
    amount: Decimal
    reason: str
