"""Each app finds a route's access rule once (`auth.RouteRules`), in its own policy: a route shared by two apps (the
services' routers are module-level) gets each one's rule, the policy's, on every request."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.routing import APIRoute

from dropship_shared.auth import ADMIN, PUBLIC, STOREFRONT, RouteRules


async def _thing() -> None:
    return None


def routes() -> tuple[APIRoute, APIRoute, APIRoute]:
    router = APIRouter()
    router.add_api_route("/things", _thing, methods=["GET"])
    router.add_api_route("/things", _thing, methods=["POST"])
    router.add_api_route("/things/{name}", _thing, methods=["GET", "DELETE"])
    listed, placed, named = router.routes
    assert isinstance(listed, APIRoute) and isinstance(placed, APIRoute) and isinstance(named, APIRoute)
    return listed, placed, named


def test_each_route_gets_its_rule_in_each_policy_again_and_again() -> None:
    listed, placed, named = routes()
    shop = RouteRules({"GET /things": PUBLIC, "POST /things": STOREFRONT, "GET /things/{name}": STOREFRONT})
    back_office = RouteRules({"GET /things": ADMIN, "DELETE /things/{name}": ADMIN, "GET /things/{name}": ADMIN})
    for _ in range(2):
        assert [shop.of(route) for route in (listed, placed, named)] == [PUBLIC, STOREFRONT, None]
        assert [back_office.of(route) for route in (listed, placed, named)] == [ADMIN, None, ADMIN]
