"""In-memory state of the simulated supplier, optionally persisted to a JSON file."""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from supplier_simulator.models import Faults

EventType = Literal["acknowledgement", "shipment"]


def utcnow_iso() -> str:
    """Current UTC time as an ISO-8601 string with a ``Z`` suffix."""
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class LineState(BaseModel):
    """Quantities of one PO line as the supplier tracks them."""

    line_no: int
    sku: str
    qty: int
    shipped: int = 0
    cancelled: int = 0
    rejected: int = 0

    @property
    def open_qty(self) -> int:
        """Quantity still to ship (not shipped, cancelled or rejected)."""
        return max(self.qty - self.shipped - self.cancelled - self.rejected, 0)


class SupplierEvent(BaseModel):
    """An acknowledgement or shipment notice, as sent by callback and served by polling."""

    cursor: int
    event_id: str
    type: EventType
    created_at: str
    body: dict[str, Any]


class StoredAnswer(BaseModel):
    """The first answer given to an idempotency key, replayed on repeats."""

    status_code: int
    body: dict[str, Any]


class OrderRecord(BaseModel):
    """One received purchase order (or a rejected attempt at one)."""

    po_number: str
    supplier_order_id: str | None
    received_at: str
    receipts: int = 1
    rejected: bool = False
    acknowledged: bool = False
    request: dict[str, Any]
    answer: StoredAnswer
    lines: list[LineState] = Field(default_factory=list)
    acknowledgements: list[dict[str, Any]] = Field(default_factory=list)
    shipments: list[dict[str, Any]] = Field(default_factory=list)
    cancellations: list[dict[str, Any]] = Field(default_factory=list)
    cancel_answers: dict[str, StoredAnswer] = Field(default_factory=dict)
    events: list[SupplierEvent] = Field(default_factory=list)

    def line(self, line_no: int) -> LineState | None:
        """The line with this number, if any."""
        return next((line for line in self.lines if line.line_no == line_no), None)

    @property
    def status(self) -> str:
        """Derived order status."""
        if self.rejected:
            return "rejected"
        if self.lines and all(line.cancelled + line.rejected >= line.qty for line in self.lines):
            return "cancelled"
        shipped = any(line.shipped for line in self.lines)
        if shipped and all(line.open_qty == 0 for line in self.lines):
            return "shipped"
        if shipped:
            return "partially_shipped"
        return "acknowledged" if self.acknowledged else "received"

    def summary(self) -> dict[str, Any]:
        """JSON view for the admin API."""
        data = self.model_dump(mode="json", exclude={"cancel_answers"})
        data["status"] = self.status
        for view, line in zip(data["lines"], self.lines, strict=True):
            view["open"] = line.open_qty
        return data


class RequestLogEntry(BaseModel):
    """One attempt at ``POST /purchase-orders``, whatever happened to it."""

    at: str
    idempotency_key: str | None
    outcome: str
    status_code: int


class ReceivedInterchange(BaseModel):
    """An X12 interchange received on ``POST /edi`` (key: sender + ISA13), with the 997 we answered."""

    sender: str
    control_number: str
    received_at: str
    status: str
    po_numbers: list[str] = Field(default_factory=list)
    reply: str | None = None
    receipts: int = 1


class PersistedState(BaseModel):
    """What survives a restart when a state file is configured."""

    order_seq: int = 0
    shipment_seq: int = 0
    cursor: int = 0
    orders: dict[str, OrderRecord] = Field(default_factory=dict)
    # X12 mode: our last interchange control number (never reused, survives a reset) and what came in
    x12_control_number: int = 0
    x12_received: dict[str, ReceivedInterchange] = Field(default_factory=dict)


class SimulatorState:
    """Everything the simulator remembers; not thread-safe, used from one event loop."""

    def __init__(self, supplier_id: str, state_file: Path | None = None) -> None:
        self.supplier_id = supplier_id
        self.state_file = state_file
        self.data = PersistedState()
        self.faults = Faults()
        self.requests: list[RequestLogEntry] = []
        if state_file is not None and state_file.exists() and state_file.stat().st_size:
            self.data = PersistedState.model_validate_json(state_file.read_bytes())

    @property
    def orders(self) -> dict[str, OrderRecord]:
        """Received orders by PO number."""
        return self.data.orders

    def next_supplier_order_id(self) -> str:
        """A fresh supplier order id."""
        self.data.order_seq += 1
        return f"{self.supplier_id.upper()}-SO-{self.data.order_seq:06d}"

    def next_shipment_id(self) -> str:
        """A fresh shipment id."""
        self.data.shipment_seq += 1
        return f"{self.supplier_id.upper()}-SH-{self.data.shipment_seq:06d}"

    def shipment_id_taken(self, shipment_id: str) -> bool:
        """Whether any order already has a shipment with this id."""
        return any(s.get("shipment_id") == shipment_id for o in self.orders.values() for s in o.shipments)

    def add_event(
        self, order: OrderRecord, event_type: EventType, event_id: str, body: dict[str, Any]
    ) -> SupplierEvent:
        """Append an event to the order's feed with the next cursor."""
        self.data.cursor += 1
        event = SupplierEvent(
            cursor=self.data.cursor,
            event_id=event_id,
            type=event_type,
            created_at=utcnow_iso(),
            body=body,
        )
        order.events.append(event)
        return event

    def log_request(self, key: str | None, outcome: str, status_code: int) -> None:
        """Record one PO POST attempt."""
        self.requests.append(
            RequestLogEntry(at=utcnow_iso(), idempotency_key=key, outcome=outcome, status_code=status_code)
        )

    def reset(self) -> None:
        """Forget everything (orders, faults, request log) but the X12 control number; persist that."""
        self.data = PersistedState(x12_control_number=self.data.x12_control_number)
        self.faults = Faults()
        self.requests.clear()
        self.save()

    def save(self) -> None:
        """Write the persisted part atomically to the state file, if one is configured."""
        if self.state_file is None:
            return
        path = self.state_file
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = self.data.model_dump_json(indent=1).encode("utf-8")
        fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def dumps(body: dict[str, Any]) -> bytes:
    """Compact JSON bytes of a body (what gets signed and sent)."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
