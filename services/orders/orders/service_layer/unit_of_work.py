"""The orders unit of work: one transaction over orders, products, outbox and inbox."""

from __future__ import annotations

from dropship_shared.unit_of_work import SqlUnitOfWork
from orders.adapters.repository import OrderRepository, ProductRepository


class OrdersUnitOfWork(SqlUnitOfWork):
    orders: OrderRepository
    products: ProductRepository

    def _open(self) -> None:
        self.orders = OrderRepository(self.session)
        self.products = ProductRepository(self.session)
