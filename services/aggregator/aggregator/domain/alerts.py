"""What the operations console puts first: the things that are wrong now, most serious first. Pure rules over
what the services report."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Any

AGE_BUCKETS = (("under 1 h", 3600.0), ("1-24 h", 86400.0), ("over 24 h", float("inf")))
LAG_ALERT_EVENTS = 100  # events waiting in a service's queue before it counts as lagging
OUTBOX_ALERT_ROWS = 100


class Severity(IntEnum):
    WARNING = 1
    CRITICAL = 2


@dataclass(frozen=True)
class Alert:
    severity: Severity
    kind: str  # supplier_down, supplier_refusing, exceptions, dead_letters, lag, promises, unreachable
    title: str
    detail: str
    link: str  # the console view that shows it (a hash route)


def by_age(moments: Iterable[datetime], now: datetime) -> dict[str, int]:
    """How many of `moments` are how old, in the console's three buckets."""
    counts = {label: 0 for label, _ in AGE_BUCKETS}
    for moment in moments:
        age = (now - moment).total_seconds()
        label = next(label for label, limit in AGE_BUCKETS if age < limit)
        counts[label] += 1
    return counts


def alerts(
    health: Iterable[Mapping[str, Any]],
    open_exceptions: Mapping[str, int],
    dead_letters: Mapping[str, int | None],
    backlog: Mapping[str, Mapping[str, Any] | None],
    promises_at_risk: int | None,
    promises_slipped: int | None,
    unreachable: Iterable[str],
) -> list[Alert]:
    found: list[Alert] = []
    for service in unreachable:
        found.append(
            Alert(Severity.CRITICAL, "unreachable", f"{service} is not answering", "its figures are missing", "#/")
        )
    for supplier in health:
        name, link = str(supplier["name"]), f"#/suppliers/{supplier['supplier_id']}"
        waiting = int(supplier.get("waiting_purchase_orders") or 0)
        error = supplier.get("last_error") or "no error recorded"
        if supplier.get("condition") == "down":
            detail = f"circuit {supplier.get('circuit')}; {waiting} PO(s) waiting; last error: {error}"
            found.append(Alert(Severity.CRITICAL, "supplier_down", f"Supplier {name} is down", detail, link))
        elif supplier.get("condition") == "refusing":
            found.append(
                Alert(Severity.CRITICAL, "supplier_refusing", f"Supplier {name} refuses POs", str(error), link)
            )
    total_open = sum(open_exceptions.values())
    if total_open:
        oldest = next((label for label, _ in reversed(AGE_BUCKETS) if open_exceptions.get(label)), "")
        severity = Severity.CRITICAL if open_exceptions.get(AGE_BUCKETS[-1][0]) else Severity.WARNING
        found.append(
            Alert(severity, "exceptions", f"{total_open} open exception(s)", f"oldest: {oldest}", "#/exceptions")
        )
    for service, count in dead_letters.items():
        if count:
            found.append(
                Alert(
                    Severity.CRITICAL,
                    "dead_letters",
                    f"{count} dead letter(s) in {service}",
                    "events it could not handle; fix, then replay",
                    "#/dead-letters",
                )
            )
    for service, figures in backlog.items():
        if figures is None:
            continue
        queued, pending = int(figures.get("queued_events") or 0), int(figures.get("outbox_pending") or 0)
        if queued >= LAG_ALERT_EVENTS or pending >= OUTBOX_ALERT_ROWS:
            detail = f"{queued} event(s) queued, {pending} outbox row(s) unpublished"
            found.append(Alert(Severity.WARNING, "lag", f"{service} is behind", detail, "#/"))
    if promises_slipped:
        found.append(
            Alert(
                Severity.CRITICAL,
                "promises",
                f"{promises_slipped} promise(s) past their date",
                "customers waiting longer than promised",
                "#/customers",
            )
        )
    if promises_at_risk:
        found.append(
            Alert(
                Severity.WARNING,
                "promises",
                f"{promises_at_risk} promise(s) due within 2 days",
                "lines not shipped yet",
                "#/customers",
            )
        )
    return sorted(found, key=lambda alert: -alert.severity)


def why_at_risk(
    line: Mapping[str, Any],
    batch: Mapping[str, Any] | None,
    purchase_order: Mapping[str, Any] | None,
    health: Mapping[str, Any] | None,
) -> str:
    """In plain words, what a customer line whose promise is near is waiting for."""
    supplier = str((health or batch or {}).get("name") or line.get("supplier_id") or "its supplier")
    if line.get("status") == "backordered" and not line.get("po_number"):
        if batch is None:
            return f"waiting in a batch of {supplier}"
        if batch.get("held"):
            return f"{supplier}'s batch is on hold"
        if batch.get("escalated"):
            return f"{supplier}'s batch reached its max wait and was escalated"
        blocked = [b.replace("_", " ") for b in batch.get("blocked_by") or () if b not in ("empty", "held")]
        return f"waiting in {supplier}'s batch for {', '.join(blocked)}" if blocked else f"in {supplier}'s batch"
    state = (purchase_order or {}).get("state")
    if state == "requested":
        if health is not None and health.get("condition") in ("down", "refusing"):
            return (
                f"PO {line['po_number']} not placed: {supplier} is {health['condition']} ({health.get('last_error')})"
            )
        return f"PO {line['po_number']} not placed with {supplier} yet"
    if state == "failed":
        return f"PO {line['po_number']} failed: {(purchase_order or {}).get('failure_reason')}"
    if line.get("status_reason"):
        return str(line["status_reason"])
    if state in ("sent", "acknowledged", "partially_shipped"):
        return f"PO {line['po_number']} {state.replace('_', ' ')} by {supplier}, not all shipped yet"
    return f"{str(line.get('status', '')).replace('_', ' ')} at {supplier}"
