"""Ride events as the producer sends them: ``{"ride": {...}, "ride_id": ...}``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tests.conftest import COURSE_RIDE


def ride_event(
    ride_id: Any,
    pu: Any = 74,
    do: Any = 75,
    distance: Any = 1.0,
    *,
    event_fields: Mapping[str, Any] | None = None,
    **ride_fields: Any,
) -> dict[str, Any]:
    """A ride event; ``ride_fields`` add to or replace the ride's own fields
    (``pickup_datetime=...``, ``trip_distance=...``), ``event_fields`` add top-level ones."""
    ride = {"PULocationID": pu, "DOLocationID": do, "trip_distance": distance, **ride_fields}
    return {"ride": ride, "ride_id": ride_id, **(event_fields or {})}


def ride_bytes(ride_id: Any, *args: Any, **kwargs: Any) -> bytes:
    """``ride_event(...)`` as the JSON bytes of a Kinesis record."""
    return json.dumps(ride_event(ride_id, *args, **kwargs)).encode()


def course_ride(**changes: Any) -> dict[str, Any]:
    """The course's test event with fields changed: ``ride_id=`` or a ride field;
    a field given ``...`` is removed."""
    event = {"ride": dict(COURSE_RIDE["ride"]), "ride_id": COURSE_RIDE["ride_id"]}
    for key, value in changes.items():
        if key == "ride_id":
            event["ride_id"] = value
        elif value is ...:
            del event["ride"][key]
        else:
            event["ride"][key] = value
    return event


def tlc_file(path: Any, n: int = 20, row_group_size: int | None = None) -> Any:
    """A small, valid TLC trip file of ``n`` rides (parquet, naive New York pickups)."""
    from datetime import datetime, timedelta

    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "lpep_pickup_datetime": pa.array(
                [datetime(2023, 2, 1, 8) + timedelta(minutes=7 * i) for i in range(n)],
                pa.timestamp("us"),
            ),
            "PULocationID": pa.array([74 + i % 30 for i in range(n)], pa.int64()),
            "DOLocationID": pa.array([75 + i % 20 for i in range(n)], pa.int64()),
            "trip_distance": pa.array([1.0 + i / 10 for i in range(n)]),
        }
    )
    pq.write_table(table, path, row_group_size=row_group_size)
    return path
