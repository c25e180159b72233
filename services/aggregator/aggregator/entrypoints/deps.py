"""Dependencies of the aggregator's routes, from the app state: the unit of work factory, the process's batches
(the in-memory batches and per-supplier locks the handlers share) and the merchant's terms."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from aggregator.service_layer.batches import BatchCache
from aggregator.service_layer.handlers import MerchantTerms
from aggregator.service_layer.unit_of_work import AggregatorUnitOfWork
from dropship_shared.unit_of_work import UnitOfWorkFactory


def uow_factory(request: Request) -> UnitOfWorkFactory[AggregatorUnitOfWork]:
    factory: UnitOfWorkFactory[AggregatorUnitOfWork] = request.app.state.uow_factory
    return factory


def batches(request: Request) -> BatchCache:
    cache: BatchCache = request.app.state.batches
    return cache


def merchant_terms(request: Request) -> MerchantTerms:
    terms: MerchantTerms = request.app.state.merchant_terms
    return terms


Uow = Annotated[UnitOfWorkFactory[AggregatorUnitOfWork], Depends(uow_factory)]
Batches = Annotated[BatchCache, Depends(batches)]
Terms = Annotated[MerchantTerms, Depends(merchant_terms)]
