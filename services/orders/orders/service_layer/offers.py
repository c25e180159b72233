"""The suppliers' offers of a product: listed, added, changed and deactivated by the merchant."""

from __future__ import annotations

from dataclasses import replace

from dropship_shared.unit_of_work import UnitOfWorkFactory
from orders.domain.model import OrderError, ProductOffer, UnknownSku
from orders.service_layer.unit_of_work import OrdersUnitOfWork


class OfferNotFound(OrderError):
    pass


class LastActiveOffer(OrderError):
    """A product keeps at least one active offer: its backorders must have somewhere to go."""


async def list_offers(uow_factory: UnitOfWorkFactory[OrdersUnitOfWork], sku: str) -> list[ProductOffer]:
    async with uow_factory() as uow:
        if await uow.products.get(sku) is None:
            raise UnknownSku([sku])
        return await uow.offers.of_product(sku)


async def put_offer(uow_factory: UnitOfWorkFactory[OrdersUnitOfWork], offer: ProductOffer) -> bool:
    """Add or change one supplier's offer of a product; True when it is new."""
    async with uow_factory() as uow:
        if await uow.products.lock(offer.sku) is None:
            raise UnknownSku([offer.sku])
        if not offer.active:
            _keep_one_active(await uow.offers.of_product(offer.sku), offer)
        created = await uow.offers.put(offer)
        await uow.commit()
        return created


async def deactivate_offer(
    uow_factory: UnitOfWorkFactory[OrdersUnitOfWork], sku: str, supplier_id: str
) -> ProductOffer:
    """The offer stays (lines routed to it still name it) but is never chosen again."""
    async with uow_factory() as uow:
        if await uow.products.lock(sku) is None:
            raise UnknownSku([sku])
        offers = await uow.offers.of_product(sku)
        found = next((offer for offer in offers if offer.supplier_id == supplier_id), None)
        if found is None:
            raise OfferNotFound(f"product {sku} has no offer from supplier {supplier_id}")
        inactive = replace(found, active=False)
        _keep_one_active(offers, inactive)
        await uow.offers.put(inactive)
        await uow.commit()
        return inactive


def _keep_one_active(offers: list[ProductOffer], offer: ProductOffer) -> None:
    others = [other for other in offers if other.active and other.supplier_id != offer.supplier_id]
    if not others:
        raise LastActiveOffer(f"product {offer.sku} keeps at least one active offer; add another one first")
