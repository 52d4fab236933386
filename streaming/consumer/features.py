"""Ride events + event time -> the model's input matrix. Pure, vectorised.

The model sees only what is known when the ride starts: pickup and drop-off
zones, the trip distance, and the pickup hour and weekday in New York local
time (TLC timestamps are New York wall-clock times, so training and serving
agree). Training builds the same columns from TLC files with ``training.tlc``.

Total on valid rides: ``validate`` bounds every value where it is read (zone ids
1 to 2^31-1, finite distances, pickup years 2-9998, arrival times within
``datetime``'s range), so nothing here can overflow a float64 or leave the
range of ``datetime``; the property tests search for counter-examples.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np

from streaming.consumer.records import Ride
from streaming.model.contract import FEATURES

NEW_YORK = ZoneInfo("America/New_York")
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0, as datetime.weekday)


def feature_matrix(rides: Sequence[Ride]) -> np.ndarray:
    """Build the ``(n, 5)`` float64 input matrix, columns in ``FEATURES`` order."""
    n = len(rides)
    x = np.empty((n, len(FEATURES)), dtype=np.float64)
    if n == 0:
        return x
    x[:, 0] = [r.pu_location_id for r in rides]
    x[:, 1] = [r.do_location_id for r in rides]
    x[:, 2] = [r.trip_distance for r in rides]
    hours, weekdays = pickup_hour_weekday(rides)
    x[:, 3] = hours
    x[:, 4] = weekdays
    return x


def pickup_hour_weekday(rides: Sequence[Ride]) -> tuple[np.ndarray, np.ndarray]:
    """New York local pickup hour (0-23) and weekday (Monday=0) of each ride.

    Event time is ``ride.pickup_datetime`` when sent (naive = New York local),
    else the record's ``approximateArrivalTimestamp`` (in production the backend
    writes the event as the ride starts, so arrival time is pickup time), else the
    invocation time (``RecordRef.event_epoch``).
    """
    n = len(rides)
    hours = np.empty(n, dtype=np.int64)
    weekdays = np.empty(n, dtype=np.int64)
    epoch_rows: list[int] = []
    epochs: list[float] = []
    for i, ride in enumerate(rides):
        pickup = ride.pickup_datetime
        if pickup is not None and pickup.tzinfo is None:
            hours[i] = pickup.hour
            weekdays[i] = pickup.weekday()
        else:
            epoch_rows.append(i)
            epochs.append(_epoch(pickup) if pickup is not None else ride.ref.event_epoch)
    if epochs:
        h, w = new_york_hour_weekday(np.asarray(epochs, dtype=np.float64))
        hours[epoch_rows] = h
        weekdays[epoch_rows] = w
    return hours, weekdays


def new_york_hour_weekday(epochs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised epoch seconds -> New York local (hour, weekday).

    New York's UTC offset changes only on whole UTC hours (02:00 local), so one
    offset lookup per distinct UTC hour is exact; a batch spans few hours.
    """
    seconds = np.floor(epochs).astype(np.int64)
    utc_hours = seconds // 3600
    unique_hours, inverse = np.unique(utc_hours, return_inverse=True)
    offsets = np.fromiter(
        (_ny_offset_seconds(int(h)) for h in unique_hours), dtype=np.int64, count=len(unique_hours)
    )
    local = seconds + offsets[inverse.reshape(-1)]
    return (local // 3600) % 24, (local // 86400 + _EPOCH_WEEKDAY) % 7


@lru_cache(maxsize=4096)
def _ny_offset_seconds(utc_hour: int) -> int:
    offset = datetime.fromtimestamp(utc_hour * 3600, NEW_YORK).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def _epoch(moment: datetime) -> float:
    return moment.timestamp()
