"""``--output``: a day's predictions in the course's partitioned parquet layout.

The course's batch deployment writes ``taxi_type=green/year=YYYY/month=MM/<run
id>.parquet`` with the actual duration, the difference and the model version;
its run id is the model's (MLflow) run. A day job adds ``day=DD`` and names the
file after the model version, so re-running a day replaces its file
(idempotent, like the table) and a backfill writes one file per day. The file
appears only complete (``serving.score_outputs.TableSink``: a temporary file,
renamed or uploaded on commit).
"""

from __future__ import annotations

import re
from typing import Any

from streaming.batch.days import ServiceDay
from streaming.serving.score_outputs import TableSink

TAXI_TYPE = "green"


def day_uri(prefix: str, day: ServiceDay, version: str, suffix: str = ".parquet") -> str:
    d = day.day
    return (
        f"{prefix.rstrip('/')}/taxi_type={TAXI_TYPE}/year={d.year:04d}/month={d.month:02d}"
        f"/day={d.day:02d}/{safe_name(version)}{suffix}"
    )


def schema() -> Any:
    import pyarrow as pa

    return pa.schema(
        [
            ("ride_id", pa.string()),
            ("lpep_pickup_datetime", pa.timestamp("us")),
            ("PULocationID", pa.int64()),
            ("DOLocationID", pa.int64()),
            ("trip_distance", pa.float64()),
            ("actual_duration", pa.float64()),
            ("predicted_duration", pa.float64()),
            ("diff", pa.float64()),
            ("model_version", pa.string()),
            ("run_id", pa.string()),
        ]
    )


class DayParquet:
    """A ``job.ChunkSink`` writing one day's predictions to ``day_uri``."""

    def __init__(self, prefix: str, day: ServiceDay, version: str) -> None:
        self.uri = day_uri(prefix, day, version)
        self.table = TableSink(self.uri, schema())

    def write(self, rows: list[dict[str, Any]]) -> None:
        self.table.write(
            {
                "ride_id": [r["ride_id"] for r in rows],
                "lpep_pickup_datetime": [r["pickup_datetime"] for r in rows],
                "PULocationID": [r["pu_location_id"] for r in rows],
                "DOLocationID": [r["do_location_id"] for r in rows],
                "trip_distance": [r["trip_distance"] for r in rows],
                "actual_duration": [r["actual_duration"] for r in rows],
                "predicted_duration": [r["predicted_duration"] for r in rows],
                "diff": [r["diff"] for r in rows],
                "model_version": [r["model_version"] for r in rows],
                "run_id": [r["run_id"] for r in rows],
            }
        )

    def commit(self) -> None:
        self.table.commit()

    def abort(self) -> None:
        self.table.abort()


def safe_name(value: str) -> str:
    """A model version as a file name: anything but letters, digits, ``._-`` as ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", value)[:200] or "model"
