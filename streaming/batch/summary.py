"""A day's figures, added up chunk by chunk in bounded memory (pure).

The run records them in ``batch_runs`` and the report draws them. Everything is
a fixed-size counter, whatever the day holds: a histogram of predicted minutes,
24 hours of the clock, the TLC zones (1-265; any other id is "other"), and
rejects by reason code (a closed set).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

#: predicted-minutes histogram: 2-minute bins from 0 to 60, then one for 60 and over
BIN_MINUTES = 2
BINS = 31
#: TLC zone ids; others are counted together
MAX_ZONE = 265
#: the model is trained and judged on rides of 1 to 60 minutes (training.tlc);
#: RMSE and MAE use the rides whose actual duration is in that range
MIN_ACTUAL, MAX_ACTUAL = 1.0, 60.0


@dataclass
class Stats:
    """Count, sum of predictions, and the error sums of rides with a known actual."""

    rides: int = 0
    predicted_sum: float = 0.0
    with_actual: int = 0
    squared_error_sum: float = 0.0
    absolute_error_sum: float = 0.0
    actual_sum: float = 0.0

    def add(self, predicted: float, actual: float | None) -> None:
        self.rides += 1
        self.predicted_sum += predicted
        if actual is not None and MIN_ACTUAL <= actual <= MAX_ACTUAL:
            error = actual - predicted
            self.with_actual += 1
            self.squared_error_sum += error * error
            self.absolute_error_sum += abs(error)
            self.actual_sum += actual

    @property
    def mean_predicted(self) -> float | None:
        return self.predicted_sum / self.rides if self.rides else None

    @property
    def mean_actual(self) -> float | None:
        return self.actual_sum / self.with_actual if self.with_actual else None

    @property
    def rmse(self) -> float | None:
        return math.sqrt(self.squared_error_sum / self.with_actual) if self.with_actual else None

    @property
    def mae(self) -> float | None:
        return self.absolute_error_sum / self.with_actual if self.with_actual else None


@dataclass
class DaySummary:
    """What one day's run scored and rejected."""

    total: Stats = field(default_factory=Stats)
    rejects: Counter[str] = field(default_factory=Counter)
    histogram: list[int] = field(default_factory=lambda: [0] * BINS)
    by_hour: list[Stats] = field(default_factory=lambda: [Stats() for _ in range(24)])
    #: pickup zone -> stats (at most MAX_ZONE + 1 keys: 0 is "other")
    by_zone: dict[int, Stats] = field(default_factory=dict)

    @property
    def predicted(self) -> int:
        return self.total.rides

    @property
    def rejected(self) -> int:
        return sum(self.rejects.values())

    def add_prediction(
        self, minutes: float, actual: float | None, pickup: datetime | None, pu_zone: int
    ) -> None:
        self.total.add(minutes, actual)
        self.histogram[bin_of(minutes)] += 1
        if pickup is not None:
            self.by_hour[pickup.hour].add(minutes, actual)
        zone = pu_zone if 1 <= pu_zone <= MAX_ZONE else 0
        self.by_zone.setdefault(zone, Stats()).add(minutes, actual)

    def add_reject(self, reason: str) -> None:
        self.rejects[reason] += 1


def bin_of(minutes: float) -> int:
    """The histogram bin of a prediction (finite: the model's output is checked)."""
    if not minutes > 0:
        return 0
    return min(int(minutes // BIN_MINUTES), BINS - 1)
