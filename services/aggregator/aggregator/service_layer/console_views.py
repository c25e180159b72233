"""The operations console's read models: the aggregator's own batches and POs joined with what the orders and
gateway APIs report (never their databases). A service that does not answer leaves its part empty."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

from aggregator.adapters.peer_services import GATEWAY, ORDERS, PeerServices
from aggregator.domain.alerts import alerts, by_age, why_at_risk
from aggregator.service_layer import views
from aggregator.service_layer.batches import BatchCache
from aggregator.service_layer.unit_of_work import AggregatorUnitOfWork
from dropship_shared.audit import AuditLog
from dropship_shared.events import utcnow
from dropship_shared.unit_of_work import UnitOfWorkFactory

AGGREGATOR = "aggregator"
TREND_DAYS = 7
PAGE_SIZE = 25
OwnFigures = Callable[[], Awaitable[dict[str, Any] | None]]


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def overview(
    uow_factory: UnitOfWorkFactory[AggregatorUnitOfWork], peers: PeerServices, own_backlog: OwnFigures
) -> dict[str, Any]:
    """Alerts first, then the day's figures with a week of trend."""
    now = utcnow()
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    days = [today - timedelta(days=back) for back in range(TREND_DAYS - 1, -1, -1)]
    (
        health,
        open_exceptions,
        failed,
        at_risk,
        orders_backlog,
        gateway_backlog,
        mine,
        by_supplier,
        by_day,
    ) = await asyncio.gather(
        peers.read(GATEWAY, "/supplier-health"),
        peers.read(GATEWAY, "/exceptions", {"open": "true", "limit": 1000}),
        peers.read(GATEWAY, "/purchase-orders", {"state": "failed", "limit": 50}),
        peers.read(ORDERS, "/order-lines/at-risk", {"within_days": 2, "limit": 1000}),
        peers.read(ORDERS, "/admin/backlog"),
        peers.read(GATEWAY, "/admin/backlog"),
        own_backlog(),
        peers.read(ORDERS, "/metrics/backorders", {"group_by": "supplier"}),
        peers.read(
            ORDERS,
            "/metrics/backorders",
            {"group_by": "day", "from": days[0].isoformat(), "to": (today + timedelta(days=1)).isoformat()},
        ),
    )
    async with uow_factory() as uow:
        released = await uow.purchase_orders.released_since(days[0])
    backlog = {ORDERS: orders_backlog, AGGREGATOR: mine, GATEWAY: gateway_backlog}
    dead_letters = {name: (figures or {}).get("dead_letters") for name, figures in backlog.items()}
    exceptions_by_age = by_age((_when(e["opened_at"]) or now for e in open_exceptions or []), now)
    slipped = None if at_risk is None else sum(1 for line in at_risk if (line["days_to_promise"] or 0) < 0)
    near = None if at_risk is None else len(at_risk) - (slipped or 0)
    unreachable = [
        name for name, answer in ((GATEWAY, health), (ORDERS, by_supplier)) if peers.configured(name) and answer is None
    ]
    return {
        "generated_at": now,
        "alerts": [
            {**asdict(alert), "severity": alert.severity.name.lower()}
            for alert in alerts(health or [], exceptions_by_age, dead_letters, backlog, near, slipped, unreachable)
        ],
        "suppliers": health,
        "exceptions_open_by_age": exceptions_by_age if open_exceptions is not None else None,
        "dead_letters": dead_letters,
        "backlog": backlog,
        "promises": {"slipped": slipped, "due_within_2_days": near},
        "unreachable": unreachable,
        "failed_purchase_orders": [
            {k: po.get(k) for k in ("po_number", "supplier_id", "failure_reason", "created_at")} for po in failed or []
        ],
        "purchase_orders_waiting_for_supplier": None
        if health is None
        else sum(int(s["waiting_purchase_orders"]) for s in health),
        "backorders_by_supplier": (by_supplier or {}).get("groups"),
        "days": [_day(day, by_day, released) for day in days],
    }


def _day(day: datetime, figures: dict[str, Any] | None, released: list[tuple[datetime, str]]) -> dict[str, Any]:
    """One day's figures: the orders service's for the backorders placed that day (None when it did not answer),
    ours for the POs released."""
    end = day + timedelta(days=1)
    reasons: dict[str, int] = {}
    for at, reason in released:
        if day <= at < end:
            reasons[reason] = reasons.get(reason, 0) + 1
    known = figures is not None
    group: dict[str, Any] = next(
        (g for g in (figures or {}).get("groups") or [] if g["group"] == day.date().isoformat()), {}
    )
    return {
        "date": day.date().isoformat(),
        "backorders_opened": group.get("backordered_lines", 0) if known else None,
        "backorders_filled": group.get("filled_lines", 0) if known else None,
        "fill_time_hours_p50": group.get("fill_time_hours_p50"),
        "fill_time_hours_p90": group.get("fill_time_hours_p90"),
        "slipped_promises": group.get("slipped_promises", 0) if known else None,
        "purchase_orders_released": sum(reasons.values()),
        "released_by_reason": reasons,
    }


async def suppliers(
    uow_factory: UnitOfWorkFactory[AggregatorUnitOfWork], cache: BatchCache, peers: PeerServices
) -> list[dict[str, Any]]:
    """Each supplier's batch (ours) with its health at the gateway."""
    batches, health = await asyncio.gather(
        views.suppliers(uow_factory(), cache), peers.read(GATEWAY, "/supplier-health")
    )
    by_id = {h["supplier_id"]: h for h in health or []}
    return [
        {
            **batch.model_dump(mode="json"),
            "health": by_id.get(batch.supplier_id),
            "gateway_answered": health is not None,
        }
        for batch in batches
    ]


async def supplier(
    uow_factory: UnitOfWorkFactory[AggregatorUnitOfWork], cache: BatchCache, peers: PeerServices, supplier_id: str
) -> dict[str, Any] | None:
    """One supplier: batch, the lines waiting in it, its policy history, health and latest POs."""
    batch = await views.supplier(uow_factory(), cache, supplier_id)
    if batch is None:
        return None
    async with uow_factory() as uow:
        versions = await uow.suppliers.policy_versions(supplier_id)
        recent = await uow.purchase_orders.page(supplier_id, 10, 0)
    lines = await views.pending_lines(uow_factory(), supplier_id)
    health = await peers.read(GATEWAY, "/supplier-health")
    return {
        **batch.model_dump(mode="json"),
        "lines": lines,
        "policy_versions": [
            {"version": v["version"], "policy": v["policy"], "changed_at": v["created_at"]} for v in reversed(versions)
        ],
        "health": next((h for h in health or [] if h["supplier_id"] == supplier_id), None),
        "gateway_answered": health is not None,
        "recent_purchase_orders": [_po_summary(po) for po in recent],
    }


def _po_summary(po: dict[str, Any]) -> dict[str, Any]:
    return {
        "po_number": po["po_number"],
        "supplier_id": po["supplier_id"],
        "created_at": po["created_at"],
        "release_reason": po["release_reason"],
        "below_minimum": po["below_minimum"],
        "total_units": po["total_units"],
        "total_value": str(po["total_value"]),
    }


async def purchase_orders(
    uow_factory: UnitOfWorkFactory[AggregatorUnitOfWork],
    peers: PeerServices,
    query: str,
    state: str | None,
    supplier_id: str | None,
    page: int,
) -> dict[str, Any]:
    """A page of POs with their state at the gateway. `query` finds POs by PO number, customer email, order or
    SKU; without it, every PO released (by supplier), or those in a state at the gateway."""
    offset = (page - 1) * PAGE_SIZE
    query = query.strip()
    states: dict[str, dict[str, Any]] | None
    if state:
        params: dict[str, Any] = {"state": state, "limit": PAGE_SIZE + 1, "offset": offset}
        if supplier_id:
            params["supplier_id"] = supplier_id
        if query:
            params["po_number"] = sorted(await _search(peers, query))[:1000]
            if not params["po_number"]:
                return {"page": page, "page_size": PAGE_SIZE, "has_more": False, "items": []}
        at_gateway = await peers.read(GATEWAY, "/purchase-orders", params, strict=True)
        states = {po["po_number"]: po for po in at_gateway or []}
        async with uow_factory() as uow:
            rows = await uow.purchase_orders.headers(list(states))
    elif query:
        async with uow_factory() as uow:
            rows = await uow.purchase_orders.headers(sorted(await _search(peers, query)))
        rows = [po for po in rows if supplier_id in (None, po["supplier_id"])][offset : offset + PAGE_SIZE + 1]
        states = None
    else:
        async with uow_factory() as uow:
            rows = list(await uow.purchase_orders.page(supplier_id, PAGE_SIZE + 1, offset))
        states = None
    more, rows = len(rows) > PAGE_SIZE, rows[:PAGE_SIZE]
    if states is None:
        states = await _gateway_states(peers, [po["po_number"] for po in rows])
    items = []
    for po in rows:
        at_gateway = (states or {}).get(po["po_number"])
        items.append(
            {
                **_po_summary(po),
                # not at the gateway yet (the event is on its way), or the gateway is not answering
                "state": at_gateway["state"] if at_gateway else ("released" if states is not None else "unknown"),
                "failure_reason": at_gateway.get("failure_reason") if at_gateway else None,
                "send_attempts": (at_gateway.get("dispatch") or {}).get("send_attempts") if at_gateway else None,
            }
        )
    return {"page": page, "page_size": PAGE_SIZE, "has_more": more, "items": items}


async def _search(peers: PeerServices, query: str) -> set[str]:
    if "@" in query:
        lines = await peers.read(ORDERS, "/order-lines", {"customer_email": query, "limit": 500})
        return {line["po_number"] for line in lines or [] if line.get("po_number")}
    by_number, by_sku, by_order = await asyncio.gather(
        peers.read(GATEWAY, "/purchase-orders", {"po_number": query.upper(), "limit": 1}),
        peers.read(GATEWAY, "/purchase-orders", {"sku": query, "limit": 200}),
        peers.read(ORDERS, "/order-lines", {"order_id": query, "limit": 500}),
    )
    found = {po["po_number"] for po in (by_number or []) + (by_sku or [])}
    found |= {line["po_number"] for line in by_order or [] if line.get("po_number")}
    if query.upper().startswith("PO"):
        found.add(query.upper())
    return found


async def _gateway_states(peers: PeerServices, numbers: list[str]) -> dict[str, dict[str, Any]] | None:
    """The gateway's view of these POs, by number; None when it does not answer."""
    if not numbers:
        return {}
    found = await peers.read(GATEWAY, "/purchase-orders", {"po_number": numbers, "limit": len(numbers)})
    return None if found is None else {po["po_number"]: po for po in found}


async def purchase_order(
    uow_factory: UnitOfWorkFactory[AggregatorUnitOfWork], peers: PeerServices, po_number: str
) -> dict[str, Any] | None:
    """One PO: as released (with the customer line each serves), its life at the gateway (state, history,
    attempts, acknowledgements, shipments), the customers' lines, its exceptions and the X12 documents."""
    async with uow_factory() as uow:
        released = await uow.purchase_orders.get(po_number)
    if released is None:
        return None
    at_gateway, customer_lines, exceptions, documents = await asyncio.gather(
        peers.read(GATEWAY, f"/purchase-orders/{po_number}"),
        peers.read(ORDERS, "/order-lines", {"po_number": po_number, "limit": 500}),
        peers.read(GATEWAY, "/exceptions", {"po_number": po_number, "limit": 100}),
        peers.read(GATEWAY, f"/suppliers/{released['supplier_id']}/edi/interchanges", {"limit": 200}),
    )
    return {
        **_po_summary(released),
        "lines": [
            {k: line[k] for k in ("line_no", "backorder_line_id", "sku", "supplier_sku", "quantity", "surplus")}
            | {"unit_cost": str(line["unit_cost"])}
            for line in released["lines"]
        ],
        "gateway": at_gateway,
        "customer_lines": customer_lines,
        "exceptions": exceptions,
        "documents": [doc for doc in documents or [] if doc.get("po_number") == po_number],
    }


async def exceptions(peers: PeerServices, open_only: bool, kind: str | None, supplier_id: str | None) -> Any:
    """The gateway's exceptions inbox with, for each, who acted on it (the gateway's audit log)."""
    params: dict[str, Any] = {"limit": 200}
    if open_only:
        params["open"] = "true"
    if kind:
        params["kind"] = kind
    if supplier_id:
        params["supplier_id"] = supplier_id
    found, actions = await asyncio.gather(
        peers.read(GATEWAY, "/exceptions", params, strict=True),
        peers.read(GATEWAY, "/admin/audit", {"action": "exception.resolve", "limit": 500}),
    )
    if found is None:
        return None
    by_target = {action["target"]: action for action in reversed(actions or [])}
    for item in found:
        action = by_target.get(item["exception_id"])
        item["resolved_by"] = _who(action) if action else None
    return found


def _who(action: dict[str, Any]) -> str:
    return str((action.get("details") or {}).get("on_behalf_of") or action["subject"])


async def activity(own: AuditLog, peers: PeerServices, limit: int = 50) -> list[dict[str, Any]]:
    """Who did what, newest first, across the three services."""
    mine, orders, gateway = await asyncio.gather(
        own.recent(limit, 0, None, None),
        peers.read(ORDERS, "/admin/audit", {"limit": limit}),
        peers.read(GATEWAY, "/admin/audit", {"limit": limit}),
    )
    merged = [
        {**action, "service": name, "who": _who(action)}
        for name, actions in (
            (AGGREGATOR, [entry.model_dump(mode="json") for entry in mine]),
            (ORDERS, orders),
            (GATEWAY, gateway),
        )
        for action in actions or []
    ]
    merged.sort(key=lambda action: str(action["occurred_at"]), reverse=True)
    return merged[:limit]


async def customers_at_risk(
    uow_factory: UnitOfWorkFactory[AggregatorUnitOfWork], cache: BatchCache, peers: PeerServices, within_days: int
) -> list[dict[str, Any]] | None:
    """The lines whose promise is past or near, each with what it waits for: the batch, the PO, the supplier."""
    lines, health = await asyncio.gather(
        peers.read(ORDERS, "/order-lines/at-risk", {"within_days": within_days}),
        peers.read(GATEWAY, "/supplier-health"),
    )
    if lines is None:
        return None
    numbers = sorted({line["po_number"] for line in lines if line.get("po_number")})
    states = await _gateway_states(peers, numbers) or {}
    batches = {
        batch.supplier_id: batch.model_dump(mode="json") for batch in await views.suppliers(uow_factory(), cache)
    }
    by_supplier = {h["supplier_id"]: h for h in health or []}
    return [
        {
            **line,
            "reason": why_at_risk(
                line,
                batches.get(line.get("supplier_id") or ""),
                states.get(line.get("po_number") or ""),
                by_supplier.get(line.get("supplier_id") or ""),
            ),
        }
        for line in lines
    ]


async def lines_awaiting_operator(peers: PeerServices) -> list[dict[str, Any]] | None:
    """The customer lines refused by their supplier and waiting for an operator (orders runs REROUTE=operator),
    oldest order first, each with the offers the operator may send it to (None: orders did not answer)."""
    lines = await peers.read(ORDERS, "/order-lines", {"awaits_operator": "true", "limit": 200})
    if lines is None:
        return None
    return [_awaiting(line) for line in reversed(lines)]


def _awaiting(line: dict[str, Any]) -> dict[str, Any]:
    """A waiting line as the console shows it: why it waits and, from its latest routing decision, every offer
    with its dates and costs then, whether it was tried and whether it is the supplier that refused."""
    routing = line.get("routing") or {}
    tried = set(line.get("tried_suppliers") or [])
    refused_by = line.get("supplier_id")
    offers = [
        {
            "supplier_id": offer["supplier_id"],
            "supplier_sku": offer.get("supplier_sku"),
            "unit_cost": offer.get("unit_cost"),
            "line_cost": offer.get("line_cost"),
            "lead_time_days": offer.get("lead_time_days"),
            "expected_delivery": offer.get("expected_delivery"),
            "outcome": offer.get("outcome"),
            "tried": offer["supplier_id"] in tried,
            "refused": offer["supplier_id"] == refused_by,
        }
        for offer in routing.get("alternatives") or []
        if offer.get("supplier_id")
    ]
    reason = str(line.get("status_reason") or "")
    return {
        "order_id": line["order_id"],
        "line_no": line["line_no"],
        "customer_email": line.get("customer_email"),
        "placed_at": line.get("placed_at"),
        "sku": line.get("sku"),
        "open_qty": line.get("backordered_qty"),
        "promised_date": line.get("promised_date"),
        "refused_by": refused_by,
        "why": reason.removeprefix("waiting for an operator: ") or reason,
        "tried_suppliers": line.get("tried_suppliers") or [],
        "routed": {key: routing.get(key) for key in ("supplier_id", "reason", "mode", "cheapest_cost", "line_cost")},
        "offers": offers,
        "untried_left": any(not offer["tried"] and offer["outcome"] != "inactive" for offer in offers),
    }
