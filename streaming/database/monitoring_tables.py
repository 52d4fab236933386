"""The monitoring function's tables (SQLAlchemy Core); ``history`` creates them.

Key design (issue 15): every figure is written so that writing it twice changes
nothing - a redelivered window, a retried batch, a restarted runner.

* ``monitoring_windows``: one row per (window, stream, shard, model version),
  replaced when written again. Rows of one window from several shards are
  added up when read (``read.py``), since each shard closes its own window.
* ``dead_letter_windows``: the same, per dead-letter reason.
* ``pending_predictions`` / ``pending_finished``: the join of predictions and
  ride-finished events, which arrive on different streams through different
  mappings, in either order. Primary keys make a redelivered event a no-op.
* ``completed_rides``: a prediction with its actual duration, keyed by ride and
  model version; RMSE/MAE per window of finishing time are aggregates of it.
* ``join_outcomes``: rides that never finished, and finished rides never
  predicted, counted per window when they leave the pending tables.
* ``ride_windows`` (migration 2): ride-started events of the input stream per
  window and shard, and how many were in a zone the model does not know.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

metadata = MetaData()

#: the longest stored key: a ride id of 256 characters, JSON-escaped (<= 6 bytes each)
RIDE_KEY_CHARS = 1600
#: stream names and shard ids (Kinesis: 128 characters), versions, reasons
NAME_CHARS = 256

monitoring_windows = Table(
    "monitoring_windows",
    metadata,
    Column("window_start", BigInteger, nullable=False),
    Column("window_end", BigInteger, nullable=False),
    Column("stream", String(NAME_CHARS), nullable=False),
    Column("shard_id", String(NAME_CHARS), nullable=False),
    Column("model_version", String(NAME_CHARS), nullable=False),
    #: "champion" (the predictions stream) or "shadow"
    Column("role", String(16), nullable=False),
    Column("records", BigInteger, nullable=False),
    Column("minutes_sum", Float, nullable=False),
    #: the window's predicted-minutes histogram: JSON list of ``drift.EDGES`` counts
    Column("histogram", Text, nullable=False),
    Column("written_at", Float, nullable=False),
    PrimaryKeyConstraint("window_start", "stream", "shard_id", "model_version"),
)

dead_letter_windows = Table(
    "dead_letter_windows",
    metadata,
    Column("window_start", BigInteger, nullable=False),
    Column("window_end", BigInteger, nullable=False),
    Column("stream", String(NAME_CHARS), nullable=False),
    Column("shard_id", String(NAME_CHARS), nullable=False),
    Column("reason", String(NAME_CHARS), nullable=False),
    Column("records", BigInteger, nullable=False),
    Column("written_at", Float, nullable=False),
    PrimaryKeyConstraint("window_start", "stream", "shard_id", "reason"),
)

pending_predictions = Table(
    "pending_predictions",
    metadata,
    Column("ride_key", String(RIDE_KEY_CHARS), nullable=False),
    Column("role", String(16), nullable=False),
    Column("model_version", String(NAME_CHARS), nullable=False),
    Column("minutes", Float, nullable=False),
    Column("window_start", BigInteger, nullable=False),
    Column("received_at", Float, nullable=False),
    PrimaryKeyConstraint("ride_key", "role", "model_version"),
)

pending_finished = Table(
    "pending_finished",
    metadata,
    Column("ride_key", String(RIDE_KEY_CHARS), primary_key=True),
    Column("actual_minutes", Float, nullable=False),
    #: the window in which the ride finished (its event arrived): quality's window
    Column("window_start", BigInteger, nullable=False),
    Column("received_at", Float, nullable=False),
)

completed_rides = Table(
    "completed_rides",
    metadata,
    Column("ride_key", String(RIDE_KEY_CHARS), nullable=False),
    Column("role", String(16), nullable=False),
    Column("model_version", String(NAME_CHARS), nullable=False),
    Column("predicted_minutes", Float, nullable=False),
    Column("actual_minutes", Float, nullable=False),
    Column("window_start", BigInteger, nullable=False),
    PrimaryKeyConstraint("ride_key", "role", "model_version"),
)

join_outcomes = Table(
    "join_outcomes",
    metadata,
    Column("window_start", BigInteger, nullable=False),
    #: "never_finished" (a prediction that waited too long) or "never_predicted"
    Column("outcome", String(32), nullable=False),
    Column("role", String(16), nullable=False),
    Column("model_version", String(NAME_CHARS), nullable=False),
    Column("rides", BigInteger, nullable=False),
    PrimaryKeyConstraint("window_start", "outcome", "role", "model_version"),
)

ride_windows = Table(
    "ride_windows",
    metadata,
    Column("window_start", BigInteger, nullable=False),
    Column("window_end", BigInteger, nullable=False),
    Column("stream", String(NAME_CHARS), nullable=False),
    Column("shard_id", String(NAME_CHARS), nullable=False),
    #: ride-started events of the input stream in this window and shard
    Column("rides", BigInteger, nullable=False),
    #: rides with a pickup or drop-off zone the model has no category for (NULL: the
    #: function did not know the model's zones)
    Column("unknown_zone_rides", BigInteger, nullable=True),
    Column("unknown_pu", BigInteger, nullable=True),
    Column("unknown_do", BigInteger, nullable=True),
    Column("written_at", Float, nullable=False),
    PrimaryKeyConstraint("window_start", "stream", "shard_id"),
)

model_references = Table(
    "model_references",
    metadata,
    Column("model_version", String(NAME_CHARS), primary_key=True),
    #: the training reference of predicted minutes: JSON list of ``drift.EDGES`` counts
    Column("histogram", Text, nullable=False),
)
