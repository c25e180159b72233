"""scripts/simulate_routing.py: the output's shape, the same demand for the three ways, and the claim on its seed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import simulate_routing
from simulate_routing import WAYS, report, routing_policy, run

ROOT = Path(__file__).resolve().parents[3]
LAST_LINE = re.compile(
    r"^routing: total cost (\d+\.\d\d) vs baseline (\d+\.\d\d) \(ratio (\d\.\d{3})\);"
    r" p90 wait (\d+\.\d) vs (\d+\.\d) days$"
)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_short_horizon_accounts_for_every_line_the_three_ways(seed: int) -> None:
    demand, outcomes = run(seed, 12, routing_policy())
    assert demand, "a 12-day stream has lines"
    assert list(outcomes) == list(WAYS)
    for outcome in outcomes.values():
        # every line of the same demand either shipped or was rejected to its customer
        assert len(outcome.waits_days) + outcome.rejected == len(demand)
        assert outcome.purchase_orders >= 1
        assert outcome.total == outcome.goods + outcome.fees + outcome.delay + outcome.credits + outcome.lost_sales
    assert outcomes["a"].rerouted == 0
    assert outcomes["b"].rejected == outcomes["c"].rejected == 0  # three suppliers, only one refuses
    assert outcomes["b"].fees <= outcomes["c"].fees  # only (c) pays the fee to release early
    rows = report(outcomes, len(demand))
    assert rows[0] == f"{len(demand)} backordered lines"
    assert [row[:3] for row in rows[2:5]] == ["(a)", "(b)", "(c)"]
    assert LAST_LINE.match(rows[-1])


def test_on_its_default_seed_routing_with_the_fee_rule_is_cheaper_and_quicker_than_one_preferred_supplier() -> None:
    printed = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "simulate_routing.py")], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert printed[0].endswith("backordered lines")
    assert len(printed) == 6
    match = LAST_LINE.match(printed[-1])
    assert match is not None, printed[-1]
    total_c, total_a, ratio, p90_c, p90_a = (float(value) for value in match.groups())
    assert total_c < total_a and ratio < 1
    assert p90_c < p90_a
    rejected_a = int(printed[2].split()[-1])
    assert rejected_a > 0, "the baseline rejects the refused lines to their customers"


@pytest.mark.parametrize(
    "argv", [["--days", "0"], ["--promise-days", "-1"], ["--promise-days", "9", "--plain-tolerance"]]
)
def test_bad_options_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        simulate_routing.main(argv)


def test_the_other_setting_routes_the_cheapest_within_the_promise() -> None:
    policy = routing_policy(promise_days=10)
    assert (policy.mode, policy.promise_days) == ("cheapest_within_promise", 10)
    demand, outcomes = run(2, 12, policy)
    assert all(len(o.waits_days) + o.rejected == len(demand) for o in outcomes.values())
