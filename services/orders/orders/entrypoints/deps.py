"""FastAPI dependencies shared by the routers: the units of work (changing, reading) and the promise rules; the
order intake. Coroutines, not plain functions: FastAPI runs a plain function on its thread pool, a thread hop
per dependency per request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from dropship_shared.unit_of_work import UnitOfWorkFactory
from orders.domain.promise import PromiseRules
from orders.service_layer.intake import OrderIntake
from orders.service_layer.unit_of_work import OrdersUnitOfWork


async def uow_factory(request: Request) -> UnitOfWorkFactory[OrdersUnitOfWork]:
    factory: UnitOfWorkFactory[OrdersUnitOfWork] = request.app.state.uow_factory
    return factory


def intake_of(request: Request) -> OrderIntake:
    """The order intake, taken by POST /orders itself rather than as a dependency: resolving one costs FastAPI more
    than the lookup on the hottest route."""
    intake: OrderIntake = request.app.state.intake
    return intake


async def read_uow_factory(request: Request) -> UnitOfWorkFactory[OrdersUnitOfWork]:
    """Units of work for requests that only read: on connections of their own (never behind the writers)."""
    factory: UnitOfWorkFactory[OrdersUnitOfWork] = request.app.state.read_uow_factory
    return factory


async def promise_rules(request: Request) -> PromiseRules:
    rules: PromiseRules = request.app.state.promise_rules
    return rules


Uow = Annotated[UnitOfWorkFactory[OrdersUnitOfWork], Depends(uow_factory)]
ReadUow = Annotated[UnitOfWorkFactory[OrdersUnitOfWork], Depends(read_uow_factory)]
Rules = Annotated[PromiseRules, Depends(promise_rules)]
