"""What routing needs to place a backordered line: the products' offers, where each supplier's batch stands, and
the merchant's setting (how to choose, and whether a refused line moves on at once or waits for an operator)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

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


def told_outlook(told: Mapping[str, Any]) -> BatchOutlook:
    """A supplier's batch as the aggregator told it (`batch.release_expected`'s fields, or the row that keeps
    them): minimums of 0 are none; without its pending units (an older aggregator) its standing is unknown."""
    wait = told["first_line_wait_seconds"]
    return BatchOutlook(
        supplier_id=told["supplier_id"],
        pending_units=told["pending_units"] or 0,
        pending_value=told["pending_value"] or Decimal(0),
        min_units=told["min_units"] or None,
        min_value=told["min_value"] or None,
        expected_release_at=told["expected_release_at"],
        first_line_wait=None if wait is None else timedelta(seconds=wait),
        complete_release_at=told["next_cutoff_at"],
        standing_known=told["pending_units"] is not None,
    )
