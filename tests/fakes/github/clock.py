"""The fake's clock, apart from the server so that rate limits, search lag and late writes can
share it with the test that moves it."""

import threading
import time
from datetime import timedelta

from local_host.host import SimulatedClock


class FakeClock:
    """The fake's clock (epoch seconds) for timestamps, rate-limit windows and search lag.

    It runs with real time by default, because the clients under test wait in real time (a
    Durable timer, an activity's retry back-off); tests jump it forward with ``advance``. Pass
    ``running=False`` for a clock that moves only when advanced.
    """

    def __init__(self, start: float | None = None, *, running: bool = True) -> None:
        self._start = float(int(time.time())) if start is None else start
        self._offset = 0.0
        self._origin = time.monotonic() if running else None
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            elapsed = 0.0 if self._origin is None else time.monotonic() - self._origin
            return self._start + self._offset + elapsed

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds


class SimulatedSeconds(FakeClock):
    """The fake on a local run's simulated clock: GitHub's waits pass as the workflows' Durable
    timers do, when the driver moves the clock."""

    def __init__(self, clock: SimulatedClock) -> None:
        super().__init__(running=False)
        self._clock = clock

    def now(self) -> float:
        return self._clock.now().timestamp()

    def advance(self, seconds: float) -> None:
        self._clock.advance(timedelta(seconds=seconds))
