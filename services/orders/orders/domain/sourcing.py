"""What routing needs to place a backordered line: the products' offers, where each supplier's batch stands, and
the merchant's setting (how to choose, and whether a refused line moves on at once or waits for an operator)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from orders.domain.promise import PromiseRules
from orders.domain.routing import BatchOutlook, Offer, RoutingDecision, RoutingPolicy, route


@dataclass
class Sourcing:
    offers: Mapping[str, Sequence[Offer]]  # by SKU, active or not
    outlooks: dict[str, BatchOutlook] = field(default_factory=dict)  # by supplier
    policy: RoutingPolicy = field(default_factory=RoutingPolicy)
    automatic: bool = True  # a line refused moves on to its next offer at once (else: waits for an operator)

    def route(
        self, sku: str, quantity: int, at: datetime, rules: PromiseRules, tried: frozenset[str] = frozenset()
    ) -> RoutingDecision | None:
        """The offer `route` picks for the line, or None when the product has no active offer left untried."""
        offers = self.offers.get(sku, ())
        if not offers or quantity < 1:
            return None
        return route(quantity, offers, self.outlooks, at, self.policy, rules, tried)

    def joined(self, offer: Offer, quantity: int) -> None:
        """A line went to `offer`'s batch: the next line routed in this transaction sees the batch with it."""
        outlook = self.outlooks.get(offer.supplier_id)
        if outlook is None or not outlook.standing_known:
            return
        self.outlooks[offer.supplier_id] = replace(
            outlook,
            pending_units=outlook.pending_units + quantity,
            pending_value=outlook.pending_value + quantity * offer.unit_cost,
        )
