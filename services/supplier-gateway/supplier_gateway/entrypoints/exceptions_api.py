"""The exceptions inbox: supplier answers and dead letters that need a person, listed by filters and resolved
with a note (a dead letter's message replayed on request)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, status

from dropship_shared.audit import Audit
from dropship_shared.problems import problem_responses
from dropship_shared.web import broker_needed, correlation_id_of
from supplier_gateway.adapters.exception_repository import ExceptionFilter
from supplier_gateway.domain.supplier_exception import ExceptionAlreadyResolved, ExceptionKind
from supplier_gateway.entrypoints.deps import Uow
from supplier_gateway.entrypoints.schemas import ExceptionResolution, SupplierExceptionOut
from supplier_gateway.service_layer import supplier_exceptions
from supplier_gateway.service_layer.errors import ExceptionNotFound, NothingToReplay

router = APIRouter(prefix="/exceptions", tags=["exceptions inbox"])


@router.get("", summary="Supplier exceptions, newest first, by kind, supplier, PO, customer order, open or not")
async def list_exceptions(
    uow: Uow,
    kind: ExceptionKind | None = None,
    supplier_id: Annotated[str | None, Query(max_length=64)] = None,
    po_number: Annotated[str | None, Query(max_length=64)] = None,
    order_id: Annotated[str | None, Query(max_length=100)] = None,
    open: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[SupplierExceptionOut]:
    where = ExceptionFilter(kind, supplier_id, po_number, order_id, open, limit)
    return [SupplierExceptionOut.of(found) for found in await supplier_exceptions.list_exceptions(uow, where)]


@router.get("/{exception_id}", summary="One supplier exception", responses=problem_responses(404))
async def get_exception(exception_id: str, uow: Uow) -> SupplierExceptionOut:
    try:
        return SupplierExceptionOut.of(await supplier_exceptions.get_exception(uow, exception_id))
    except ExceptionNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc


@router.post(
    "/{exception_id}/resolve",
    summary="Resolve an open exception with a note (once); a dead letter's message can be replayed first",
    responses=problem_responses(404, 409, 422, 503),
)
async def resolve_exception(
    exception_id: str, resolution: ExceptionResolution, request: Request, uow: Uow, audit: Audit
) -> SupplierExceptionOut:
    broker = request.app.state.runtime.broker

    async def replay(queue: str, message_id: str) -> bool:
        async with broker_needed():  # the broker away: 503, nothing resolved
            replayed: bool = await broker.replay_dead_letter(queue, message_id)
        return replayed

    try:
        resolved = await supplier_exceptions.resolve_exception(
            uow, exception_id, resolution.note, correlation_id_of(request), replay if resolution.replay else None
        )
    except ExceptionNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc)) from exc
    except (ExceptionAlreadyResolved, NothingToReplay) as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from exc
    details: dict[str, object] = {"kind": resolved.kind, "note": resolution.note}
    if resolution.replay:
        details["replayed"] = True
    await audit.record(request, "exception.resolve", exception_id, details)
    return SupplierExceptionOut.of(resolved)
