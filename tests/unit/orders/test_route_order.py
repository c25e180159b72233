"""Requests are matched against the app's routes one by one, in the order they were included: the orders routes
(POST /orders above all) come first, not after the operational and catalog routes."""

from __future__ import annotations

from pathlib import Path

from fastapi.routing import APIRoute, iter_route_contexts

from orders.bootstrap import create_app
from orders.config import OrdersSettings


def test_the_orders_routes_are_tried_first(tmp_path: Path) -> None:
    app = create_app(OrdersSettings(database_url=f"sqlite+aiosqlite:///{tmp_path}/orders.db"))
    tried = [route for route in iter_route_contexts(app.routes) if isinstance(route.original_route, APIRoute)]
    assert (tried[0].path_format, tried[0].methods) == ("/orders", {"POST"})
    assert all(route.path_format.startswith("/orders/") for route in tried[1:8])
