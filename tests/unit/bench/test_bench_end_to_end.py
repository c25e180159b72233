"""scripts/bench_support.py: the end-to-end figures of bench_pipeline.py (the steady state leaves out the fill at the
start and the max-wait drain at the end; first→last keeps them) and a ceiling measured in rounds."""

from __future__ import annotations

import pytest
from bench_support import Ceiling, end_to_end

SUPPLIERS = [f"sup{n}" for n in range(10)]
LINES_PER_PO = 10  # a 20-unit minimum, 2 units per line
MAX_WAIT = 5.0


def batched_pipeline(
    rate: float, seconds: float, latency: float = 0.05
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Lines placed at `rate` for `seconds` round-robin over the suppliers; a supplier's PO is released `latency`
    after its 10th line, and what is left of each supplier's batch when intake stops at its first line's max wait:
    a pipeline that keeps up with intake. (placed, released), each by supplier."""
    every = [n / rate for n in range(int(rate * seconds))]
    placed: dict[str, list[float]] = {}
    released: dict[str, list[float]] = {}
    for number, supplier in enumerate(SUPPLIERS):
        placed[supplier] = mine = every[number :: len(SUPPLIERS)]
        for start in range(0, len(mine), LINES_PER_PO):
            batch = mine[start : start + LINES_PER_PO]
            moment = batch[-1] + latency if len(batch) == LINES_PER_PO else batch[0] + MAX_WAIT
            released.setdefault(supplier, []).extend([moment] * len(batch))
    return placed, released


@pytest.mark.parametrize("rate", [83, 154, 208])
def test_a_pipeline_that_keeps_up_shows_the_intake_rate_in_the_steady_state(rate: int) -> None:
    placed, released = batched_pipeline(rate=rate, seconds=8)  # a few lines per supplier left at the end

    figures = end_to_end(placed, released)

    assert figures.steady is not None
    assert figures.steady.released == pytest.approx(rate, rel=0.01)
    assert figures.steady.taken == pytest.approx(rate, rel=0.01)
    assert figures.steady.sustained == pytest.approx(rate, rel=0.01)
    # first→last spans the fill and the last batches' max wait: 8 s of orders over about 13 s
    assert figures.first_to_last.lines == 8 * rate
    assert figures.first_to_last.seconds == pytest.approx(max(max(lines) for lines in released.values()))
    assert figures.first_to_last.rate < 0.7 * figures.steady.released


def test_a_pipeline_that_falls_behind_shows_its_own_rate_not_intakes() -> None:
    placed: dict[str, list[float]] = {}
    released: dict[str, list[float]] = {}
    for n in range(1600):  # 200 lines/s taken for 8 s, released one every 10 ms (each on a PO of its own)
        placed.setdefault(SUPPLIERS[n % len(SUPPLIERS)], []).append(n / 200)
        released.setdefault(SUPPLIERS[n % len(SUPPLIERS)], []).append(0.5 + n / 100)

    figures = end_to_end(placed, released)

    assert figures.steady is not None
    assert figures.steady.released == pytest.approx(100, rel=0.02)
    assert figures.steady.taken == pytest.approx(200, rel=0.02)
    assert figures.steady.sustained == figures.steady.released


def test_releases_catching_up_a_backlog_count_no_faster_than_lines_were_taken() -> None:
    placed, released = batched_pipeline(rate=208, seconds=8)
    for supplier, moments in released.items():  # each supplier's first PO a second late, the rest on time
        first = min(moments)
        released[supplier] = [moment + 1.0 if moment == first else moment for moment in moments]

    figures = end_to_end(placed, released)

    assert figures.steady is not None
    assert figures.steady.released > 1.05 * figures.steady.taken
    assert figures.steady.sustained == figures.steady.taken == pytest.approx(208, rel=0.01)


def test_no_steady_state_when_a_supplier_had_no_second_po_while_orders_were_taken() -> None:
    placed, released = batched_pipeline(rate=208, seconds=8)
    released["sup3"] = [8.0 + MAX_WAIT] * len(released["sup3"])  # all of it after intake stopped

    figures = end_to_end(placed, released)

    assert figures.steady is None
    assert figures.first_to_last.lines == 8 * 208


def test_a_ceiling_is_its_best_round_with_the_spread_of_the_rounds() -> None:
    ceiling = Ceiling((2319.0, 7341.0, 3825.0), "msg/s")

    assert ceiling.best == 7341
    assert ceiling.spread == pytest.approx((7341 - 2319) / 7341)
    assert ceiling.describe() == "best 7,341 msg/s (median 3,825; rounds 2,319 / 7,341 / 3,825; spread 68 %)"
