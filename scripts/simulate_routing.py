"""Replays a seeded synthetic demand stream through the real routing, batching and fee rules, three ways.

A simulation, not a benchmark: no services, no broker, no database. The domain code is the real one:
orders' routing rule (`orders.domain.routing.route`) and promise rules, the aggregator's batch, its release
decision (minimum, deadline, cut-off and `fee_cheaper_than_waiting`), its estimates and arrival rate. The
clock is simulated: the batches are decided on every arrival and every hour, as the aggregator does.

The three ways, on the same demand (the same lines at the same instants, the same supplier refusals):
  (a) one preferred supplier per SKU (its cheapest offer), no fee rule: what ERPs do; a line the supplier
      refuses is rejected to the customer;
  (b) routing (earliest delivery within a 15% cost tolerance, an earlier offer worth its premium at the
      merchant's delay cost; `--plain-tolerance`: the earliest whatever its premium) and re-routing (a
      refused line goes to the next offer, each offer tried at most once; rejected only when none is left),
      no fee rule;
  (c) as (b), with the fee rule: a batch below its minimum is released when the supplier's small-order fee
      is cheaper than waiting.

Costs, counted the same way for all three: goods (what the suppliers charge for the units they ship), fees
(each PO shipped below its supplier's minimums pays that supplier's small-order fee, whatever released it),
delay (the merchant's cost per line-day from the order to the shipment, or to the rejection), credits (the
consolation credit of a line delivered more than the threshold after its first promise, on the retail
price, as orders grants it) and lost sales (a line rejected to the customer is revenue lost: its retail
price; a way that ships the line instead pays its goods and keeps the revenue, so comparing costs compares
profits). "/line" is the cost of a shipped line, lost sales left out. Waits are days from the order to the
shipment of shipped lines. After the demand's last day the clock runs on until every line is settled.

    .venv/bin/python scripts/simulate_routing.py [--seed 12] [--days 60] [--plain-tolerance | --promise-days N]
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from aggregator.domain import Cutoff, PendingBatch, PendingLine, SupplierPolicy
from aggregator.domain.arrival import ArrivalRate
from aggregator.domain.schedule import next_cutoff
from aggregator.domain.waiting import ConsolationTerms, WaitingOutlook
from orders.domain.promise import PromiseRules, consolation_amount, consolation_due, delivery_after_ship_date
from orders.domain.routing import BatchOutlook, Offer, RoutingPolicy, route

Way = Literal["a", "b", "c"]
WAYS: dict[Way, str] = {
    "a": "preferred supplier, no fee rule",
    "b": "routing + re-routing",
    "c": "routing + re-routing + fee rule",
}
START = datetime(2026, 1, 5, tzinfo=UTC)
HOUR = timedelta(hours=1)
CENT = Decimal("0.01")
# The merchant's settings, chosen once, not tuned to the outcome.
DELAY_COST_PER_LINE_DAY = Decimal("1.50")
MARKUP = Decimal("1.5")  # retail price = cost at the preferred offer x this
TOLERANCE_PERCENT = Decimal(15)
PROMISE_RULES = PromiseRules(transit_days=3, consolation_threshold_days=7, consolation_percent=Decimal(10))
ACKNOWLEDGED_AFTER = timedelta(days=1)  # a supplier refuses a line when it acknowledges the PO


@dataclass(frozen=True)
class Supplier:
    """A supplier of the synthetic world: its batching policy, small-order fee, costs and refusals."""

    supplier_id: str
    lead_time_days: int
    cost_factor: tuple[float, float]  # its unit cost is the SKU's base cost x a factor drawn in this range
    min_units: int
    max_wait: timedelta
    small_order_fee: Decimal | None
    refusal_share: float = 0.0
    cutoff: Cutoff | None = None

    def policy(self, fee_rule: bool) -> SupplierPolicy:
        """The aggregator's policy; without the fee rule it never weighs the fee (the supplier still charges it)."""
        return SupplierPolicy(
            supplier_id=self.supplier_id,
            max_wait=self.max_wait,
            min_units=self.min_units,
            cutoff=self.cutoff,
            small_order_fee=self.small_order_fee if fee_rule else None,
            delay_cost_per_line_day=DELAY_COST_PER_LINE_DAY,
        )


SUPPLIERS = (
    # Cheapest, slow, a big minimum and a daily cut-off.
    Supplier(
        "acme",
        lead_time_days=6,
        cost_factor=(1.0, 1.0),
        min_units=40,
        max_wait=timedelta(days=12),
        small_order_fee=Decimal(35),
        cutoff=Cutoff("15:00", "America/Chicago"),
    ),
    # About as cheap (cheaper on some SKUs), quicker, a small minimum; refuses a share of the lines.
    Supplier(
        "bolt",
        lead_time_days=3,
        cost_factor=(0.94, 1.06),
        min_units=12,
        max_wait=timedelta(days=6),
        small_order_fee=Decimal(15),
        refusal_share=0.2,
    ),
    # Dearer, ships within days, no minimum.
    Supplier(
        "crest",
        lead_time_days=2,
        cost_factor=(1.08, 1.22),
        min_units=0,
        max_wait=timedelta(days=1),
        small_order_fee=None,
    ),
)


@dataclass(frozen=True)
class Product:
    sku: str
    price: Decimal
    offers: tuple[Offer, ...]  # priority 0 is the cheapest: the ERP's preferred supplier
    daily_lines: float


@dataclass(frozen=True)
class Demand:
    """One customer's backordered line, and the draw deciding whether a refusing supplier refuses it."""

    line_id: str
    sku: str
    quantity: int
    placed_at: datetime
    refusal_draw: float


def catalogue(rng: random.Random, skus: int = 8) -> dict[str, Product]:
    products: dict[str, Product] = {}
    for number in range(1, skus + 1):
        base = Decimal(rng.randint(800, 6000)) / 100
        costs = {s.supplier_id: (base * Decimal(repr(rng.uniform(*s.cost_factor)))).quantize(CENT) for s in SUPPLIERS}
        # Not every supplier carries every product: the dear one misses a quarter of them.
        carried = [s for s in SUPPLIERS if s.supplier_id != "crest" or number % 4 != 0]
        ranked = sorted(carried, key=lambda s: (costs[s.supplier_id], s.supplier_id))
        offers = tuple(
            Offer(s.supplier_id, f"{s.supplier_id.upper()}-{number:03d}", costs[s.supplier_id], s.lead_time_days, rank)
            for rank, s in enumerate(ranked)
        )
        sku = f"SKU-{number:03d}"
        products[sku] = Product(sku, (offers[0].unit_cost * MARKUP).quantize(CENT), offers, rng.uniform(0.4, 2.5))
    return products


def demand_stream(rng: random.Random, products: dict[str, Product], days: int) -> list[Demand]:
    lines: list[Demand] = []
    for day in range(days):
        for product in products.values():
            for _ in range(_poisson(rng, product.daily_lines)):
                at = START + timedelta(days=day, seconds=rng.randrange(86_400))
                quantity = rng.choice((1, 1, 1, 2, 2, 3, 4))
                lines.append(Demand("", product.sku, quantity, at, rng.random()))
    lines.sort(key=lambda line: line.placed_at)
    return [Demand(f"L{n:05d}", d.sku, d.quantity, d.placed_at, d.refusal_draw) for n, d in enumerate(lines, 1)]


def _poisson(rng: random.Random, mean: float) -> int:
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


@dataclass
class LineState:
    demand: Demand
    first_promise: date | None = None
    tried: frozenset[str] = frozenset()
    offer: Offer | None = None


@dataclass
class Outcome:
    way: Way
    goods: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)
    delay: Decimal = Decimal(0)
    credits: Decimal = Decimal(0)
    lost_sales: Decimal = Decimal(0)
    purchase_orders: int = 0
    below_minimum_pos: int = 0
    rejected: int = 0
    rerouted: int = 0
    waits_days: list[float] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return self.goods + self.fees + self.delay + self.credits + self.lost_sales

    @property
    def per_shipped_line(self) -> Decimal:
        """What a shipped line cost, lost sales left out: the cost of serving, whatever the volume served."""
        shipped = len(self.waits_days)
        return (self.total - self.lost_sales) / shipped if shipped else Decimal(0)

    @property
    def mean_wait(self) -> float:
        return sum(self.waits_days) / len(self.waits_days) if self.waits_days else 0.0

    @property
    def p90_wait(self) -> float:
        ordered = sorted(self.waits_days)
        return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)] if ordered else 0.0


class World:
    """The suppliers' batches as the aggregator keeps them, and orders' side of each line, in simulated time."""

    def __init__(self, way: Way, products: dict[str, Product], routing: RoutingPolicy) -> None:
        self.way = way
        self.products = products
        self.suppliers = {s.supplier_id: s for s in SUPPLIERS}
        self.policies = {s.supplier_id: s.policy(fee_rule=way == "c") for s in SUPPLIERS}
        self.batches = {s.supplier_id: PendingBatch(s.supplier_id) for s in SUPPLIERS}
        self.rates = {s.supplier_id: ArrivalRate() for s in SUPPLIERS}
        self.routing = routing
        self.consolation = ConsolationTerms(PROMISE_RULES.consolation_threshold_days, PROMISE_RULES.consolation_percent)
        self.lines: dict[str, LineState] = {}
        self.refusals: list[tuple[datetime, str]] = []  # (acknowledged at, line id), a heap
        self.outcome = Outcome(way)

    # -- orders' side ----------------------------------------------------------------------------------------

    def place(self, demand: Demand) -> None:
        self.lines[demand.line_id] = LineState(demand)
        self.send(demand.line_id, demand.placed_at)

    def send(self, line_id: str, now: datetime) -> None:
        """Route the line (again) among the offers it has not tried; reject it when none is left."""
        state = self.lines[line_id]
        product = self.products[state.demand.sku]
        offers = product.offers if self.way != "a" else product.offers[:1]
        decision = route(
            state.demand.quantity, offers, self.outlooks(now), now, self.routing, PROMISE_RULES, state.tried
        )
        if decision is None:
            self.reject(state, now)
            return
        if state.first_promise is None:
            state.first_promise = decision.expected_delivery
        else:
            self.outcome.rerouted += 1
        state.offer = decision.offer
        state.tried = state.tried | {decision.offer.supplier_id}
        supplier_id = decision.offer.supplier_id
        line = PendingLine(
            line_id, decision.offer.supplier_sku, product.sku, state.demand.quantity, decision.offer.unit_cost, now
        )
        self.batches[supplier_id].add(line)
        self.rates[supplier_id].record(line.quantity, now)
        self.decide(supplier_id, now)

    def outlooks(self, now: datetime) -> dict[str, BatchOutlook]:
        """Where each supplier's batch stands, as the aggregator's estimates tell orders."""
        outlooks: dict[str, BatchOutlook] = {}
        for supplier_id, batch in self.batches.items():
            policy, rate = self.policies[supplier_id], self.rates[supplier_id].per_hour(now)
            empty = batch.line_count == 0
            outlooks[supplier_id] = BatchOutlook(
                supplier_id,
                pending_units=batch.total_units,
                pending_value=batch.total_value,
                min_units=policy.min_units or None,
                min_value=policy.min_value or None,
                expected_release_at=None if empty else batch.expected_release_at(policy, now, rate),
                first_line_wait=batch.first_line_wait(policy, now, rate) if empty else None,
                complete_release_at=None if policy.cutoff is None else next_cutoff(policy.cutoff, now),
            )
        return outlooks

    def reject(self, state: LineState, now: datetime) -> None:
        demand, product = state.demand, self.products[state.demand.sku]
        self.outcome.rejected += 1
        self.outcome.delay += _days(now - demand.placed_at) * DELAY_COST_PER_LINE_DAY
        self.outcome.lost_sales += demand.quantity * product.price

    def ship(self, line_id: str, shipped_at: datetime) -> None:
        state = self.lines[line_id]
        demand, product = state.demand, self.products[state.demand.sku]
        assert state.offer is not None and state.first_promise is not None
        wait = shipped_at - demand.placed_at
        self.outcome.waits_days.append(wait / timedelta(days=1))
        self.outcome.goods += demand.quantity * state.offer.unit_cost
        self.outcome.delay += _days(wait) * DELAY_COST_PER_LINE_DAY
        delivered = delivery_after_ship_date(shipped_at.date(), PROMISE_RULES)
        if consolation_due(delivered, state.first_promise, PROMISE_RULES):
            self.outcome.credits += consolation_amount(demand.quantity, product.price, PROMISE_RULES)

    # -- the aggregator's and the suppliers' side ----------------------------------------------------------

    def decide(self, supplier_id: str, now: datetime) -> None:
        batch, policy = self.batches[supplier_id], self.policies[supplier_id]
        outlook = WaitingOutlook(self.rates[supplier_id].per_hour(now), 0.0, self.consolation)
        decision = batch.decide(policy, now, outlook)
        if decision.action != "release":
            return
        supplier = self.suppliers[supplier_id]
        for draft in batch.release(policy, now, decision.release_reason):
            self.outcome.purchase_orders += 1
            if draft.below_minimum and supplier.small_order_fee is not None:
                self.outcome.below_minimum_pos += 1
                self.outcome.fees += supplier.small_order_fee
            for po_line in draft.lines:
                assert po_line.backorder_line_id is not None  # no case packs here: no surplus lines
                line_id = po_line.backorder_line_id
                if self.lines[line_id].demand.refusal_draw < supplier.refusal_share:
                    heapq.heappush(self.refusals, (now + ACKNOWLEDGED_AFTER, line_id))
                else:
                    self.ship(line_id, now + timedelta(days=supplier.lead_time_days))

    def hour(self, now: datetime) -> None:
        while self.refusals and self.refusals[0][0] <= now:
            at, line_id = heapq.heappop(self.refusals)
            self.send(line_id, at)
        for supplier_id in self.batches:
            self.decide(supplier_id, now)

    def idle(self) -> bool:
        return not self.refusals and all(batch.line_count == 0 for batch in self.batches.values())


def _days(duration: timedelta) -> Decimal:
    return Decimal(repr(duration / timedelta(days=1)))


def simulate(
    way: Way, products: dict[str, Product], demand: Sequence[Demand], days: int, routing: RoutingPolicy
) -> Outcome:
    """Replay the demand hour by hour, then keep the clock going until every line has shipped or been rejected."""
    world = World(way, products, routing)
    pending = iter(demand)
    upcoming = next(pending, None)
    now = START
    drain_until = START + timedelta(days=days + 90)
    while now < drain_until:
        now += HOUR
        while upcoming is not None and upcoming.placed_at <= now:
            world.hour(upcoming.placed_at)  # refusals acknowledged before this order come first
            world.place(upcoming)
            upcoming = next(pending, None)
        world.hour(now)
        if upcoming is None and world.idle():
            break
    outcome = world.outcome
    outcome.delay = outcome.delay.quantize(CENT, rounding=ROUND_HALF_UP)
    return outcome


def report(outcomes: dict[Way, Outcome], lines: int) -> list[str]:
    header = (
        f"{'way':<36} {'goods':>10} {'fees':>7} {'delay':>8} {'credits':>8} {'lost':>8} {'total':>10} {'/line':>6}"
        f" {'mean d':>6} {'p90 d':>6} {'POs':>4} {'<min':>4} {'rerouted':>8} {'rejected':>8}"
    )
    rows = [f"{lines} backordered lines", header]
    for way, outcome in outcomes.items():
        rows.append(
            f"({way}) {WAYS[way]:<32} {outcome.goods:>10.2f} {outcome.fees:>7.2f} {outcome.delay:>8.2f}"
            f" {outcome.credits:>8.2f} {outcome.lost_sales:>8.2f} {outcome.total:>10.2f}"
            f" {outcome.per_shipped_line:>6.2f} {outcome.mean_wait:>6.1f} {outcome.p90_wait:>6.1f}"
            f" {outcome.purchase_orders:>4} {outcome.below_minimum_pos:>4} {outcome.rerouted:>8} {outcome.rejected:>8}"
        )
    a, c = outcomes["a"], outcomes["c"]
    ratio = c.total / a.total if a.total else Decimal(0)
    rows.append(
        f"routing: total cost {c.total:.2f} vs baseline {a.total:.2f} (ratio {ratio:.3f});"
        f" p90 wait {c.p90_wait:.1f} vs {a.p90_wait:.1f} days"
    )
    return rows


def routing_policy(plain_tolerance: bool = False, promise_days: int | None = None) -> RoutingPolicy:
    """Earliest within the tolerance, an earlier offer worth its premium at the merchant's delay cost (or not);
    with `promise_days`, the other setting: the cheapest offer delivering within that many days."""
    if promise_days is not None:
        return RoutingPolicy("cheapest_within_promise", promise_days=promise_days)
    delay = None if plain_tolerance else DELAY_COST_PER_LINE_DAY
    return RoutingPolicy(
        "earliest_within_tolerance", tolerance_percent=TOLERANCE_PERCENT, delay_cost_per_line_day=delay
    )


def run(seed: int, days: int, routing: RoutingPolicy) -> tuple[list[Demand], dict[Way, Outcome]]:
    """The same catalogue and demand (one seed) replayed the three ways."""
    rng = random.Random(seed)
    products = catalogue(rng)
    demand = demand_stream(rng, products, days)
    return demand, {way: simulate(way, products, demand, days, routing) for way in WAYS}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=12, help="seed of the catalogue and the demand (default 12)")
    parser.add_argument("--days", type=int, default=60, help="days of demand (default 60)")
    parser.add_argument(
        "--plain-tolerance",
        action="store_true",
        help="route to the earliest offer within the tolerance whatever its premium (no delay cost in routing)",
    )
    parser.add_argument(
        "--promise-days",
        type=int,
        help="route with the other setting: the cheapest offer delivering within this many days (earliest if none)",
    )
    args = parser.parse_args(argv)
    if args.days < 1:
        parser.error("--days must be at least 1")
    if args.promise_days is not None and (args.promise_days < 0 or args.plain_tolerance):
        parser.error("--promise-days takes a number of days >= 0, without --plain-tolerance")
    demand, outcomes = run(args.seed, args.days, routing_policy(args.plain_tolerance, args.promise_days))
    print("\n".join(report(outcomes, len(demand))))


if __name__ == "__main__":
    main()
