"""``ride_finished`` events for ``streaming send --finished-stream``: what each says, and when
it is due. Pure code (no AWS, no clock of its own); ``produce`` sends what it says, when.

The taxi app's backend writes a ride's actual duration to a stream of its own
when the ride ends (``schemas/ride_finished.v1.json``), so predictions can be
judged against actuals as they arrive in production, not only against a file
afterwards. ``send`` plays that backend: for each TLC trip a ride-started event
to ``--stream`` and, later, its ride-finished event to ``--finished-stream``.

**The timing rule.** One minute of a ride lasts ``time_scale`` seconds of
sending (``--time-scale``, default 0.1): a ride's finished event is due
``duration_minutes * time_scale`` seconds after its started event, i.e. the
ride's own time runs ``60 / time_scale`` times faster (600 by default; a
10-minute ride finishes 1 s after it started, the longest ride the model
predicts, 60 minutes, 6 s). So a demo ends at most ``60 * time_scale`` seconds
after its last ride started. The rule is not derived from ``--rate``: ``send``
plays rides at a steady rate, not at their real pickup times, so the factor by
which a rate compresses a month (28 days into ``count / rate`` seconds: 10^5
times or more) would put every finished event a few milliseconds after its
started one - no different from sending both at once - and ``--rate 0`` (as
fast as PutRecords allows) would have no factor at all.

A finished event's time counts from when its started event was sent: started
event ``i`` (in pickup order) is due at ``i / rate`` seconds after sending
starts (at 0 with no rate), and once it has gone out its finished event is due
``duration * time_scale`` later. So the rule holds even when PutRecords falls
behind (the first call, which opens the connection, can take a tenth of a
second): a ride that starts late finishes late by as much, and a finished
event can never go out before its own started one.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any, NamedTuple

#: ``event`` and ``version`` of schemas/ride_finished.v1.json
EVENT = "ride_finished"
VERSION = 1

#: Seconds of sending per minute of ride (``--time-scale``'s default): short demos,
#: durations still apart (a 10-minute ride finishes 1 s after it started).
DEFAULT_TIME_SCALE = 0.1

#: ``Due.kind``: at the same due time a started event goes before a finished one.
STARTED = 0
FINISHED = 1


class Due(NamedTuple):
    """One event to send: ``at`` seconds after sending starts, of ride ``index``.

    ``index`` is the ride's position in the started order (the payload lists'
    index), not its ``ride_id``. Tuples compare by time, then kind, so a heap of
    them pops the earliest event, a started one first on a tie."""

    at: float
    kind: int
    index: int


def finished_event(
    ride_id: int, pickup: datetime, duration_minutes: float, pu_location: int
) -> dict[str, Any]:
    """The ``ride_finished`` event of one TLC trip, as the backend writes it at drop-off.

    ``tlc.load_trips`` keeps the pickup time and the duration (drop-off minus
    pickup, in minutes) but not the drop-off itself; pickup plus duration,
    rounded to the microsecond (the files' precision), gives back the file's
    ``lpep_dropoff_datetime`` exactly. Both times are New York local, written
    as the ride-started event writes its ``pickup_datetime`` (``isoformat``),
    so a consumer can join on ``ride_id`` and compare the strings."""
    dropoff = pickup + timedelta(microseconds=round(duration_minutes * 60e6))
    return {
        "event": EVENT,
        "version": VERSION,
        "ride_id": ride_id,
        "pickup_datetime": pickup.isoformat(),
        "dropoff_datetime": dropoff.isoformat(),
        "duration_minutes": duration_minutes,
        "PULocationID": pu_location,
    }


def finished_events(trips: Any) -> list[dict[str, Any]]:
    """A ``tlc.load_trips`` frame's ``ride_finished`` events, in the frame's order.

    The same order and ``ride_id`` (the frame's index: the trip's row in the
    file) as ``tlc.ride_events(trips)``, so event ``i`` of each list is one ride."""
    return [
        finished_event(
            int(ride_id), row.pickup_datetime, float(row.duration), int(row.PULocationID)
        )
        for ride_id, row in zip(trips.index, trips.itertuples(index=False), strict=True)
    ]


def finish_delay(duration_minutes: float, time_scale: float = DEFAULT_TIME_SCALE) -> float:
    """Seconds between a ride's started and finished events: its duration, sped up
    ``60 / time_scale`` times (``time_scale`` seconds per minute of ride)."""
    if not (math.isfinite(duration_minutes) and duration_minutes >= 0):
        raise ValueError(f"a duration is a finite number of minutes >= 0, got {duration_minutes}")
    if not (math.isfinite(time_scale) and time_scale >= 0):
        raise ValueError(f"time_scale is finite seconds per minute >= 0, got {time_scale}")
    return duration_minutes * time_scale


def started_at(index: int, rate: float | None) -> float:
    """When started event ``index`` is due: ``index / rate`` seconds, as ``send --rate``
    paces rides; all at 0 (as fast as PutRecords allows) without a rate."""
    return index / rate if rate else 0.0


class Schedule:
    """The started and finished events of the rides, each popped when it is due first.

    ``durations_minutes`` are the rides' durations in started (pickup) order.
    Started events are due at ``started_at``; a ride's finished event enters a
    heap only when the sender reports its started event sent (``started``),
    due ``finish_delay`` after that moment. ``pop`` gives whichever is due
    first - the next ride to start or the earliest pending finish, a start on a
    tie - so a sender that sleeps until ``peek().at`` never sleeps past a due
    event. The heap holds only the rides under way. No clock here: the sender
    says what time it is."""

    def __init__(
        self,
        durations_minutes: Iterable[float],
        *,
        rate: float | None,
        time_scale: float = DEFAULT_TIME_SCALE,
    ) -> None:
        self._delays = [finish_delay(d, time_scale) for d in durations_minutes]
        self._rate = rate
        self._next_start = 0
        self._finishing: list[Due] = []

    def __len__(self) -> int:
        """Events not popped yet (finished events of rides not started count too)."""
        return 2 * (len(self._delays) - self._next_start) + len(self._finishing)

    def peek(self) -> Due | None:
        """The event due first, or None when every event has been popped."""
        start = None
        if self._next_start < len(self._delays):
            start = Due(started_at(self._next_start, self._rate), STARTED, self._next_start)
        if self._finishing and (start is None or self._finishing[0] < start):
            return self._finishing[0]
        return start

    def pop(self) -> Due:
        """Remove and return the event due first (``IndexError`` when there is none)."""
        due = self.peek()
        if due is None:
            raise IndexError("every event of the schedule has been popped")
        if due.kind == STARTED:
            self._next_start += 1
        else:
            heapq.heappop(self._finishing)
        return due

    def started(self, index: int, at: float) -> None:
        """Ride ``index``'s started event went out at ``at`` (seconds, the schedule's
        clock): its finished event is due ``finish_delay`` after that."""
        heapq.heappush(self._finishing, Due(at + self._delays[index], FINISHED, index))


def schedule(
    durations_minutes: Iterable[float],
    *,
    rate: float | None,
    time_scale: float = DEFAULT_TIME_SCALE,
) -> Iterator[Due]:
    """Every event of the rides in the order a sender that keeps up sends them: each
    started event sent the moment it is due (a ``Schedule`` run without delays).

    Sorted by due time (a started event first on a tie); a finished event
    always after its own started one, ``finish_delay`` later."""
    plan = Schedule(durations_minutes, rate=rate, time_scale=time_scale)
    while plan.peek() is not None:
        due = plan.pop()
        if due.kind == STARTED:
            plan.started(due.index, due.at)
        yield due
