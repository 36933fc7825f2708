"""The circuit breaker: opens after N consecutive failures, probes once after the cooldown."""

from __future__ import annotations

from voice_avatar.engines.breaker import CircuitBreaker, State


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_threshold_consecutive_failures_only() -> None:
    breaker = CircuitBreaker(threshold=3, cooldown=10, clock=Clock())
    breaker.failure()
    breaker.failure()
    breaker.success()  # a success resets the count
    breaker.failure()
    breaker.failure()
    assert breaker.state is State.CLOSED and breaker.allow()
    breaker.failure()
    assert breaker.state is State.OPEN and not breaker.allow()


def test_half_open_lets_one_probe_through_and_its_outcome_decides() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, cooldown=10, clock=clock)
    breaker.failure()
    clock.now = 9.9
    assert not breaker.allow()
    clock.now = 10.0
    assert breaker.state is State.HALF_OPEN
    assert breaker.allow() and not breaker.allow()  # one probe at a time
    breaker.failure()  # the probe failed: open for another cooldown
    assert breaker.state is State.OPEN
    clock.now = 20.0
    assert breaker.allow()
    breaker.success()
    assert breaker.state is State.CLOSED and breaker.allow() and breaker.allow()
