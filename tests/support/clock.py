"""Time for the local event source mapping that passes only when a test says so.

``EventSourceMapping`` takes its clocks (``clock=``, ``wall_clock=``) and waits
between polls on the ``stop`` event given to ``run``. On a ``FakeClock`` time
stands still, however long a call to the emulator takes, and moves only by
``advance(s)`` (a handler that takes ``s`` seconds, records ``s`` seconds older)
or by a wait on ``clock.stop``, which moves it ``s`` ahead and returns at once:
poll intervals, retry delays and idle time take no real time.
"""

from __future__ import annotations

import threading
import time

#: A wait always moves time a little, so a loop of zero waits still ends.
MIN_WAIT_S = 0.001
#: A run that has waited longer than this is stuck: fail instead of spinning.
MAX_ELAPSED_S = 3600.0


class FakeClock:
    def __init__(self) -> None:
        self.elapsed = 0.0
        self._wall_start = time.time()  # records written before this are older than it
        self.stop = _SkippingEvent(self)

    def monotonic(self) -> float:
        """For ``EventSourceMapping(clock=...)``."""
        return 1000.0 + self.elapsed

    def time(self) -> float:
        """For ``EventSourceMapping(wall_clock=...)``: record ages follow it."""
        return self._wall_start + self.elapsed

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass at once."""
        assert seconds >= 0
        self.elapsed += seconds
        assert self.elapsed <= MAX_ELAPSED_S, f"{MAX_ELAPSED_S} s have passed: the run is stuck"


class _SkippingEvent(threading.Event):
    """The ``stop`` event for ``mapping.run``: waiting on it moves the clock instead."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__()
        self._clock = clock

    def wait(self, timeout: float | None = None) -> bool:
        if self.is_set():
            return True
        assert timeout is not None, "an unbounded wait never ends on a fake clock"
        self._clock.advance(max(timeout, MIN_WAIT_S))
        return self.is_set()
