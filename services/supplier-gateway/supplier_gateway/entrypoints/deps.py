"""Dependencies of the gateway's routes: the unit of work factory and the settings, from the app state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from dropship_shared.unit_of_work import UnitOfWorkFactory
from supplier_gateway.config import GatewaySettings
from supplier_gateway.service_layer.unit_of_work import GatewayUnitOfWork


def uow_factory(request: Request) -> UnitOfWorkFactory[GatewayUnitOfWork]:
    factory: UnitOfWorkFactory[GatewayUnitOfWork] = request.app.state.uow_factory
    return factory


def settings(request: Request) -> GatewaySettings:
    configured: GatewaySettings = request.app.state.settings
    return configured


Uow = Annotated[UnitOfWorkFactory[GatewayUnitOfWork], Depends(uow_factory)]
Settings = Annotated[GatewaySettings, Depends(settings)]
