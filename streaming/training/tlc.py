"""NYC TLC green-taxi trip files -> clean trips with the model's features and target.

Used by training, the demo and the evaluation tools (never by the Lambda
function: it imports pandas). TLC timestamps are New York wall-clock times, so
the pickup hour and weekday read here are the same "New York local" values the
handler derives from a ride event.

One rule for a TLC trip's ride id, everywhere (``streaming score`` on the file,
``streaming send --month``, ``streaming evaluate --month``): its row number in
the month's file, 0-based, counted before any cleaning. ``load_trips`` keeps it
as the index (named ``ride_id``), so a cleaned, sampled or sorted frame still
names each trip by it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from streaming.model.contract import FEATURES

if TYPE_CHECKING:
    import pandas as pd

#: The model is trained and judged on rides of 1 to 60 minutes (as in the course).
MIN_DURATION_MIN = 1.0
MAX_DURATION_MIN = 60.0
_MONTH = re.compile(r"(\d{4})-(\d{2})")


@dataclass(frozen=True)
class MonthStats:
    """What cleaning did to one file: the figures recorded in the model metadata."""

    month: str
    rows_raw: int
    rows_outside_month: int
    rows_duration_out_of_range: int
    rows_clean: int


def month_of(path: Path) -> str:
    """'YYYY-MM' from a TLC file name such as ``green_tripdata_2021-01.parquet``."""
    match = _MONTH.search(path.name)
    if not match:
        raise ValueError(f"cannot tell the month of {path.name} (expected YYYY-MM in the name)")
    return f"{match.group(1)}-{match.group(2)}"


def month_path(data_dir: Path, month: str) -> Path:
    return Path(data_dir) / f"green_tripdata_{month}.parquet"


def load_trips(path: Path) -> tuple[pd.DataFrame, MonthStats]:
    """Read one month, keep rides of 1-60 min whose pickup lies in the file's month.

    Returns columns ``FEATURES`` + ``pickup_datetime`` + ``duration`` (minutes),
    indexed by ``ride_id``: the trip's row in the file (see the module docstring).
    """
    import pandas as pd

    month = month_of(Path(path))
    raw = pd.read_parquet(
        path,
        columns=[
            "lpep_pickup_datetime",
            "lpep_dropoff_datetime",
            "PULocationID",
            "DOLocationID",
            "trip_distance",
        ],
    )
    pickup = raw["lpep_pickup_datetime"]
    duration = (raw["lpep_dropoff_datetime"] - pickup).dt.total_seconds() / 60.0
    year, mon = (int(p) for p in month.split("-"))
    in_month = (pickup.dt.year == year) & (pickup.dt.month == mon)
    in_range = duration.between(MIN_DURATION_MIN, MAX_DURATION_MIN)
    usable = (
        in_month
        & in_range
        & raw["PULocationID"].notna()
        & raw["DOLocationID"].notna()
        & raw["trip_distance"].notna()
        & (raw["trip_distance"] >= 0)
    )
    trips = pd.DataFrame(
        {
            "PULocationID": raw["PULocationID"].astype("int64"),
            "DOLocationID": raw["DOLocationID"].astype("int64"),
            "trip_distance": raw["trip_distance"].astype("float64"),
            "pickup_hour": pickup.dt.hour.astype("int64"),
            "pickup_weekday": pickup.dt.day_of_week.astype("int64"),
            "pickup_datetime": pickup,
            "duration": duration,
        }
    )[usable.to_numpy()]
    trips.index.name = "ride_id"
    stats = MonthStats(
        month=month,
        rows_raw=len(raw),
        rows_outside_month=int((~in_month).sum()),
        rows_duration_out_of_range=int((in_month & ~in_range).sum()),
        rows_clean=len(trips),
    )
    return trips, stats


def features_of(trips: pd.DataFrame) -> np.ndarray:
    """The ``(n, 5)`` float64 model input, columns in ``FEATURES`` order."""
    return trips[list(FEATURES)].to_numpy(dtype=np.float64)


def ride_events(trips: pd.DataFrame) -> list[dict]:
    """Trips as the backend's "ride started" events, with their real pickup time;
    ``ride_id`` is the frame's index (for ``load_trips``' frames, the row in the file)."""
    events = []
    for ride_id, row in zip(trips.index, trips.itertuples(index=False), strict=True):
        events.append(
            {
                "ride": {
                    "PULocationID": int(row.PULocationID),
                    "DOLocationID": int(row.DOLocationID),
                    "trip_distance": float(row.trip_distance),
                    "pickup_datetime": row.pickup_datetime.isoformat(),
                },
                "ride_id": int(ride_id),
            }
        )
    return events
