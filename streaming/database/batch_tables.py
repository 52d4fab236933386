"""The batch job's output tables (SQLAlchemy Core); ``history`` creates them.

* ``ride_duration_predictions``: one row per ride and model version (primary key
  ``ride_id, model_version``), with the actual duration and the difference when
  the drop-off is known. ``service_day`` is the New York day the ride started:
  re-running a day for a version deletes exactly that day's rows first.
* ``ride_duration_rejects``: rows that could not be scored, with the stream's
  reason codes (``consumer.records.Reason``) or ``duplicate_ride_id``, keyed by
  day, version and the row's place in the day's ordered read.
* ``batch_runs``: one row per run, written when it starts and finished with its
  figures (or the failure), so a run that never finished is visible, and the
  report can put a day beside the days before it.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

metadata = MetaData()

#: the longest ride id stored: the stream's limit (a partition key, 256 characters)
RIDE_ID_CHARS = 256
NAME_CHARS = 256

predictions = Table(
    "ride_duration_predictions",
    metadata,
    Column("ride_id", String(RIDE_ID_CHARS), nullable=False),
    Column("model_version", String(NAME_CHARS), nullable=False),
    Column("service_day", Date, nullable=False),
    #: as read: New York wall-clock time
    Column("pickup_datetime", DateTime, nullable=False),
    Column("pu_location_id", BigInteger, nullable=False),
    Column("do_location_id", BigInteger, nullable=False),
    Column("trip_distance", Float, nullable=False),
    Column("predicted_duration", Float, nullable=False),
    #: minutes from pickup to drop-off, when the drop-off is known
    Column("actual_duration", Float, nullable=True),
    #: actual - predicted, as the course writes it
    Column("diff", Float, nullable=True),
    Column("run_id", String(64), nullable=False),
    Column("scored_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("ride_id", "model_version"),
)

rejects = Table(
    "ride_duration_rejects",
    metadata,
    Column("service_day", Date, nullable=False),
    Column("model_version", String(NAME_CHARS), nullable=False),
    #: the row's place in the day's read (ordered by pickup time, then ride id)
    Column("row_number", BigInteger, nullable=False),
    Column("ride_id", String(RIDE_ID_CHARS), nullable=True),
    Column("pickup_datetime", DateTime, nullable=True),
    #: ``consumer.records.Reason``: the stream's dead-letter codes
    Column("reason", String(64), nullable=False),
    Column("detail", Text, nullable=False),
    #: the row as read, JSON (bounded)
    Column("record", Text, nullable=False),
    Column("run_id", String(64), nullable=False),
    PrimaryKeyConstraint("service_day", "model_version", "row_number"),
)

runs = Table(
    "batch_runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("service_day", Date, nullable=False, index=True),
    Column("model_version", String(NAME_CHARS), nullable=False),
    #: "running" until it ends; then "succeeded" or "failed"
    Column("status", String(16), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("rides_read", BigInteger, nullable=True),
    Column("predicted", BigInteger, nullable=True),
    Column("rejected", BigInteger, nullable=True),
    #: JSON: rejects by reason
    Column("rejects_by_reason", Text, nullable=True),
    Column("mean_predicted", Float, nullable=True),
    Column("rmse", Float, nullable=True),
    Column("mae", Float, nullable=True),
    #: rides whose actual duration the RMSE/MAE use
    Column("with_actual", BigInteger, nullable=True),
    Column("error", Text, nullable=True),
    Column("hours", Integer, nullable=False),
)

BATCH_TABLES = (predictions, rejects, runs)
