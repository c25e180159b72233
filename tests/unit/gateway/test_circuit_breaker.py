"""Circuit breaker state machine, driven by an injected clock."""

from __future__ import annotations

import pytest

from supplier_gateway.adapters.circuit_breaker import CircuitBreaker, CircuitState


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def state_of(breaker: CircuitBreaker) -> CircuitState:
    """Read the state through a call, so the type checker does not narrow it between steps."""
    return breaker.state


def _fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        assert breaker.allow_request()
        breaker.record_failure()


def test_opens_after_threshold_consecutive_failures(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=3, reset_timeout=10, clock=clock)
    _fail(breaker, 2)
    assert state_of(breaker) is CircuitState.CLOSED
    assert breaker.consecutive_failures == 2
    _fail(breaker, 1)
    assert state_of(breaker) is CircuitState.OPEN
    assert not breaker.allow_request()
    assert breaker.retry_after() == pytest.approx(10)


def test_a_success_resets_the_failure_count(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=3, reset_timeout=10, clock=clock)
    _fail(breaker, 2)
    breaker.record_success()
    _fail(breaker, 2)
    assert state_of(breaker) is CircuitState.CLOSED


def test_half_open_after_cool_down_allows_one_trial(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout=5, clock=clock)
    _fail(breaker, 1)
    clock.advance(4.9)
    assert state_of(breaker) is CircuitState.OPEN
    assert breaker.retry_after() == pytest.approx(0.1)
    clock.advance(0.1)
    assert state_of(breaker) is CircuitState.HALF_OPEN
    assert breaker.allow_request()
    assert not breaker.allow_request()  # only one trial at a time


def test_successful_trial_closes(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout=5, clock=clock)
    _fail(breaker, 1)
    clock.advance(5)
    assert breaker.allow_request()
    breaker.record_success()
    assert state_of(breaker) is CircuitState.CLOSED
    assert breaker.consecutive_failures == 0
    assert breaker.allow_request() and breaker.allow_request()


def test_failed_trial_reopens_for_a_full_cool_down(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=2, reset_timeout=5, clock=clock)
    _fail(breaker, 2)
    clock.advance(6)
    assert breaker.allow_request()
    breaker.record_failure()
    assert state_of(breaker) is CircuitState.OPEN
    clock.advance(4.99)
    assert not breaker.allow_request()
    clock.advance(0.01)
    assert breaker.allow_request()


def test_released_trial_slot_can_be_used_again(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout=1, clock=clock)
    _fail(breaker, 1)
    clock.advance(1)
    assert breaker.allow_request()
    breaker.release()  # e.g. the caller was cancelled
    assert state_of(breaker) is CircuitState.HALF_OPEN
    assert breaker.allow_request()


def test_late_failure_while_open_does_not_extend_the_cool_down(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout=5, clock=clock)
    _fail(breaker, 1)
    clock.advance(3)
    breaker.record_failure()
    clock.advance(2)
    assert state_of(breaker) is CircuitState.HALF_OPEN


def test_several_half_open_trials_when_configured(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=1, reset_timeout=1, half_open_max_calls=2, clock=clock)
    _fail(breaker, 1)
    clock.advance(1)
    assert breaker.allow_request() and breaker.allow_request()
    assert not breaker.allow_request()


@pytest.mark.parametrize("kwargs", [{"failure_threshold": 0}, {"reset_timeout": -1}, {"half_open_max_calls": 0}])
def test_rejects_nonsense_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(**kwargs)  # type: ignore[arg-type]
