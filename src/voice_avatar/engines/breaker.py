"""A circuit breaker per engine: stop sending messages to a provider that keeps failing.

Closed: requests go through. After `threshold` consecutive failures it opens: requests skip
the engine (the router fails over at once instead of waiting for another timeout). After
`cooldown` seconds one probe request is let through (half-open): success closes the breaker,
failure opens it again for another cooldown.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import StrEnum


class State(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(self, threshold: int = 3, cooldown: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold, self.cooldown, self._clock = threshold, cooldown, clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> State:
        with self._lock:
            return self._state()

    def allow(self) -> bool:
        """May a request go to this engine now? In half-open state only one probe at a time may."""
        with self._lock:
            state = self._state()
            if state is State.CLOSED:
                return True
            if state is State.HALF_OPEN and not self._probing:
                self._probing = True
                return True
            return False

    def success(self) -> None:
        with self._lock:
            self._failures, self._opened_at, self._probing = 0, None, False

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._probing or self._failures >= self.threshold:
                self._opened_at = self._clock()
            self._probing = False

    def _state(self) -> State:
        if self._opened_at is None:
            return State.CLOSED
        if self._clock() - self._opened_at >= self.cooldown:
            return State.HALF_OPEN
        return State.OPEN
