"""Service days: the rides that started on one calendar day in New York.

Pure. TLC files and the ``rides`` table hold pickup times as New York wall-clock
time (``timestamp without time zone``), so a day is the half-open range
``[D 00:00, D+1 00:00)`` of local time. That range holds every ride of the day
whatever the clocks did: on the spring-forward day (23 hours) no ride is
written 02:xx by a correct clock, and on the fall-back night (25 hours) both
01:xx hours are written 01:xx, so both are inside the range. ``hours`` says
how long the day really was, for the report.

"Yesterday" is yesterday in New York, not in UTC or the machine's zone: a run
at 01:00 New York time on the 15th (06:00 UTC) scores the 14th, and so does a
retry at 23:00 that evening.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from streaming.consumer.features import NEW_YORK

#: a backfill is at most this many days at a time (ten years): larger is a typo
MAX_DAYS = 3660


class DayError(ValueError):
    """A date or range that cannot be scored; the message says what to give."""


@dataclass(frozen=True)
class ServiceDay:
    """One New York calendar day of rides."""

    day: date

    @property
    def start(self) -> datetime:
        """First local wall-clock instant of the day (naive, New York time)."""
        return datetime.combine(self.day, time())

    @property
    def end(self) -> datetime:
        """First local instant of the next day (excluded)."""
        return self.start + timedelta(days=1)

    @property
    def hours(self) -> int:
        """How long the day really was: 23 (spring forward), 25 (fall back) or 24."""
        start = self.start.replace(tzinfo=NEW_YORK).astimezone(UTC)
        end = self.end.replace(tzinfo=NEW_YORK).astimezone(UTC)
        return round((end - start).total_seconds() / 3600)

    def __str__(self) -> str:
        return self.day.isoformat()


def parse_day(text: str) -> date:
    """``YYYY-MM-DD`` -> a date; ``DayError`` naming the format otherwise."""
    try:
        if len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise DayError(f"{text!r} is not a date: give YYYY-MM-DD, e.g. 2021-01-15") from None


def yesterday(now: datetime | None = None) -> date:
    """The day before ``now``'s date in New York (``now``: aware; default the clock)."""
    now = datetime.now(UTC) if now is None else now
    if now.tzinfo is None:
        raise DayError("the current time must carry its time zone")
    return now.astimezone(NEW_YORK).date() - timedelta(days=1)


def day_range(first: date, last: date) -> list[ServiceDay]:
    """Every day from ``first`` to ``last``, both included, oldest first."""
    if last < first:
        raise DayError(f"--to {last} is before --from {first}: give the earlier day first")
    count = (last - first).days + 1
    if count > MAX_DAYS:
        raise DayError(
            f"{count} days from {first} to {last}: backfill at most {MAX_DAYS} at a time"
        )
    return [ServiceDay(first + timedelta(days=n)) for n in range(count)]
