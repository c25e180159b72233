"""Property test: random arrival streams into a supplier's batch under random policies, the customer's side.

The aggregator's domain (the batch, its release decision, its estimates and the observed arrival rate)
drives the orders domain as the events would: every order is promised from the latest estimate, every
change of the batch publishes a new estimate to the lines waiting in it (no hysteresis on the aggregator's
side: the worst case for the customer), a release is firm news. Stated bound: a line's promise changes at
most twice after the first promise (at most one later move by an estimate in these streams, and the
release), each change is told in at most one message, and no credit is issued without a slip of more than
the threshold against the first promise.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.domain import Cutoff, PendingBatch, PendingLine, SupplierPolicy
from aggregator.domain.arrival import ArrivalRate
from dropship_shared.events import Address
from orders.domain.effects import MessageKind
from orders.domain.model import Cause, Order, Product, RequestedLine
from orders.domain.promise import PromiseRules, ReleaseEstimate

START = datetime(2026, 3, 27, 8, 0, tzinfo=UTC)
SHIP_TO = Address(name="Ann", address_lines=["1 Main St"], city="Springfield", postal_code="62701", country="US")
MAX_CHANGES = 2
DATE_MESSAGES = {MessageKind.DATE_MOVED, MessageKind.DATE_IMPROVED}

policies = st.builds(
    SupplierPolicy,
    supplier_id=st.just("acme"),
    min_units=st.integers(0, 60),
    max_wait=st.integers(1, 20 * 24).map(lambda hours: timedelta(hours=hours)),
    cutoff=st.none()
    | st.builds(
        Cutoff,
        local_time=st.sampled_from(["00:00", "09:15", "17:30"]),
        time_zone=st.sampled_from(["UTC", "Europe/Paris"]),
    ),
)
rules = st.builds(
    PromiseRules,
    transit_days=st.integers(1, 5),
    default_batch_wait_days=st.integers(1, 5),
    quick_ship_days=st.integers(0, 5),
    consolation_threshold_days=st.integers(2, 10),
    slip_tolerance_days=st.integers(1, 3),
)
arrivals = st.lists(st.tuples(st.integers(0, 96), st.integers(1, 12)), min_size=1, max_size=25)


class Simulation:
    def __init__(self, policy: SupplierPolicy, promise_rules: PromiseRules) -> None:
        self.policy, self.rules = policy, promise_rules
        self.batch = PendingBatch("acme")
        self.rate = ArrivalRate()
        self.now = START
        self.estimate: ReleaseEstimate | None = None
        self.orders: dict[str, Order] = {}

    def publish(self) -> None:
        rate = self.rate.per_hour(self.now)
        if self.batch.line_count == 0:
            wait = self.batch.first_line_wait(self.policy, self.now, rate)
            self.estimate = ReleaseEstimate(self.now + wait, wait)
            return
        expected = self.batch.expected_release_at(self.policy, self.now, rate)
        if expected is None:
            return
        self.estimate = ReleaseEstimate(expected)
        oldest = self.batch.oldest
        latest = oldest.received_at + self.policy.max_wait if oldest else None
        for line in self.batch.lines:
            cause = Cause(self.now, "batch.release_expected")
            self.orders[line.backorder_line_id].expect_release(1, expected, self.rules, cause, latest)

    def decide(self) -> datetime | None:
        """Release whatever the policy releases now (firm news for its lines); when to look again."""
        while True:
            decision = self.batch.decide(self.policy, self.now)
            if decision.action != "release":
                return decision.next_check
            drafts = self.batch.release(self.policy, self.now, decision.release_reason)
            for draft in drafts:
                for line_id in draft.backorder_line_ids:
                    self.orders[line_id].mark_on_purchase_order(1, "PO", Cause(self.now, "po"), self.rules)
            self.publish()
            if not drafts:
                return None

    def advance_to(self, moment: datetime) -> None:
        """The scheduler looks at the batch exactly when time alone can change the decision."""
        while True:
            next_check = self.decide()
            if next_check is None or next_check > moment:
                break
            self.now = max(self.now, next_check)
        self.now = moment

    def arrive(self, quantity: int) -> None:
        line_id = f"O{len(self.orders)}-1"
        product = Product("SKU", "Thing", "acme", "S", Decimal("10"), Decimal("4"), 0, lead_time_days=5)
        estimates = {"acme": self.estimate} if self.estimate else {}
        order = Order.place(
            f"O{len(self.orders)}",
            "a@example.com",
            SHIP_TO,
            [RequestedLine("SKU", quantity)],
            {"SKU": product},
            self.now,
            self.rules,
            estimates,
        )
        self.orders[line_id] = order
        self.batch.add(PendingLine(line_id, "S", "SKU", quantity, Decimal("4"), self.now))
        self.rate.record(quantity, self.now)
        self.decide()
        self.publish()


@settings(max_examples=300, deadline=None)
@given(policy=policies, promise_rules=rules, stream=arrivals)
def test_dates_change_rarely_each_change_is_told_once_and_credits_follow_real_slips(
    policy: SupplierPolicy, promise_rules: PromiseRules, stream: list[tuple[int, int]]
) -> None:
    simulation = Simulation(policy, promise_rules)
    simulation.publish()
    for gap_hours, quantity in stream:
        simulation.advance_to(simulation.now + timedelta(hours=gap_hours))
        simulation.arrive(quantity)
    simulation.advance_to(simulation.now + policy.max_wait + timedelta(days=2))
    assert simulation.batch.line_count == 0
    for order in simulation.orders.values():
        line = order.lines[0]
        changes = len(line.promises) - 1
        assert changes <= MAX_CHANGES, [p.promised_date for p in line.promises]
        told = [message for message in order.messages if message.kind in DATE_MESSAGES]
        assert len(told) <= changes
        assert len({message.key for message in told}) == len(told)
        first = line.promises[0].promised_date
        latest = max(promise.promised_date for promise in line.promises)
        slipped = (latest - first).days > promise_rules.consolation_threshold_days
        assert bool(order.credits) == (line.credit is not None)
        assert line.credit is None or slipped
        assert len(order.credits) <= 1
