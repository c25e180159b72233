"""Each supplier's health as operations see it: its circuit, how its last call ended, the POs still waiting
to reach it and the ones it refused. The last outcomes are this replica's memory (the circuit is too)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from dropship_shared.unit_of_work import UnitOfWorkFactory
from supplier_gateway.service_layer.unit_of_work import GatewayUnitOfWork


class SupplierCondition(StrEnum):
    OK = "ok"
    DOWN = "down"  # its circuit is open, or its last call failed and POs wait for it
    REFUSING = "refusing"  # it refused the last PO sent to it
    ON_HOLD = "on_hold"  # deactivated in the registry: its POs wait untouched


@dataclass(frozen=True)
class CallOutcome:
    at: datetime
    error: str | None = None  # None: it succeeded
    refused: bool = False


class SupplierCallLog:
    """The last outcome of placing a PO with each supplier (kept in memory by the dispatcher)."""

    def __init__(self) -> None:
        self._last: dict[str, CallOutcome] = {}
        self._last_failure: dict[str, CallOutcome] = {}
        self._last_success: dict[str, datetime] = {}

    def succeeded(self, supplier_id: str, at: datetime) -> None:
        self._last[supplier_id] = CallOutcome(at)
        self._last_success[supplier_id] = at

    def failed(self, supplier_id: str, error: str, at: datetime, refused: bool = False) -> None:
        outcome = CallOutcome(at, error[:1000], refused)
        self._last[supplier_id] = outcome
        self._last_failure[supplier_id] = outcome

    def last(self, supplier_id: str) -> CallOutcome | None:
        return self._last.get(supplier_id)

    def last_failure(self, supplier_id: str) -> CallOutcome | None:
        return self._last_failure.get(supplier_id)

    def last_success(self, supplier_id: str) -> datetime | None:
        return self._last_success.get(supplier_id)


@dataclass(frozen=True)
class SupplierHealth:
    supplier_id: str
    name: str
    protocol: str | None
    registered: bool
    active: bool
    condition: SupplierCondition
    circuit: str
    last_error: str | None
    last_error_at: datetime | None
    last_success_at: datetime | None
    waiting_purchase_orders: int
    oldest_waiting_since: datetime | None
    failed_purchase_orders: int
    open_exceptions: int


def condition_of(active: bool, circuit: str, last: CallOutcome | None, waiting: int) -> SupplierCondition:
    if not active:
        return SupplierCondition.ON_HOLD
    if circuit != "closed":
        return SupplierCondition.DOWN
    if last is not None and last.error is not None:
        if last.refused:
            return SupplierCondition.REFUSING
        if waiting:
            return SupplierCondition.DOWN
    return SupplierCondition.OK


async def supplier_health(
    uow_factory: UnitOfWorkFactory[GatewayUnitOfWork], circuit_of: Callable[[str], str], calls: SupplierCallLog
) -> list[SupplierHealth]:
    async with uow_factory() as uow:
        suppliers = {supplier.supplier_id: supplier for supplier in await uow.suppliers.all()}
        waiting = await uow.dispatch.waiting_by_supplier()
        failed = await uow.dispatch.failed_by_supplier()
        exceptions = await uow.exceptions.open_by_supplier()
    found = []
    for supplier_id in sorted({*suppliers, *waiting, *failed, *exceptions}):
        supplier = suppliers.get(supplier_id)
        queued = waiting.get(supplier_id)
        last, failure = calls.last(supplier_id), calls.last_failure(supplier_id)
        circuit = circuit_of(supplier_id)
        active = supplier.active if supplier is not None else True
        found.append(
            SupplierHealth(
                supplier_id=supplier_id,
                name=supplier.name if supplier is not None else supplier_id,
                protocol=supplier.protocol.value if supplier is not None else None,
                registered=supplier is not None,
                active=active,
                condition=condition_of(active, circuit, last, queued.count if queued else 0),
                circuit=circuit,
                # the stored error of a waiting PO survives a restart; this replica's memory is fresher
                last_error=failure.error if failure else (queued.last_error if queued else None),
                last_error_at=failure.at if failure else None,
                last_success_at=calls.last_success(supplier_id),
                waiting_purchase_orders=queued.count if queued else 0,
                oldest_waiting_since=queued.oldest_created_at if queued else None,
                failed_purchase_orders=failed.get(supplier_id, 0),
                open_exceptions=exceptions.get(supplier_id, 0),
            )
        )
    return found


async def send_waiting_now(uow_factory: UnitOfWorkFactory[GatewayUnitOfWork], supplier_id: str) -> int:
    """An operator wants a supplier's waiting POs tried now (it is back); returns how many wait."""
    async with uow_factory() as uow:
        waiting = (await uow.dispatch.waiting_by_supplier()).get(supplier_id)
        await uow.dispatch.make_due(supplier_id)
        await uow.commit()
    return waiting.count if waiting else 0
