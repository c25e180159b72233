"""Roles are a ladder (storefront < operations < admin): whoever may call a route, a higher role may call it too."""

from __future__ import annotations

import pytest

from aggregator.entrypoints.access import AGGREGATOR_ACCESS
from dropship_shared.auth import OPERATIONAL_ACCESS, AccessPolicy
from dropship_shared.tokens import Role
from orders.entrypoints.access import ORDERS_ACCESS
from supplier_gateway.entrypoints.access import GATEWAY_ACCESS

LADDER = [Role.STOREFRONT, Role.OPERATIONS, Role.ADMIN]
POLICIES = {
    "orders": ORDERS_ACCESS,
    "aggregator": AGGREGATOR_ACCESS,
    "gateway": GATEWAY_ACCESS,
    "operational": OPERATIONAL_ACCESS,
}


@pytest.mark.parametrize("policy", POLICIES.values(), ids=POLICIES.keys())
def test_every_role_above_an_allowed_one_is_allowed(policy: AccessPolicy) -> None:
    for route, rule in policy.items():
        if rule.public:
            continue
        lowest = min(LADDER.index(role) for role in rule.roles)
        assert set(LADDER[lowest:]) <= rule.roles, f"{route}: {sorted(rule.roles)}"
