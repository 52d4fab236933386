"""The batch job's tables (SQLAlchemy Core): its outputs, and the input it reads.

The outputs live in the monitoring database's schema history (``monitoring.schema``
migration 3): one database, one ``schema_version`` table, one way to migrate.

* ``ride_duration_predictions``: one row per ride and model version (primary key
  ``ride_id, model_version``), with the actual duration and the difference when
  the drop-off is known. ``service_day`` is the New York day the ride started:
  re-running a day for a version deletes exactly that day's rows first.
* ``ride_duration_rejects``: rows that could not be scored, with the stream's
  reason codes (``consumer.records.Reason``), keyed by day, version and the
  row's place in the day's ordered read.
* ``batch_runs``: one row per run, written when it starts and finished with its
  figures (or the failure), so a run that never finished is visible, and the
  report can put a day beside the days before it.

The input table is the user's: ``input_table`` names it and its columns from a
mapping (``--table``, ``--column``) without reflecting it, so nothing but the
six columns is ever read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

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
    column,
    table,
)
from sqlalchemy.sql.expression import TableClause

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

#: the input columns, by their role; a mapping renames any of them
INPUT_COLUMNS = (
    "ride_id",
    "pickup_datetime",
    "pu_location_id",
    "do_location_id",
    "trip_distance",
    "dropoff_datetime",
)
DEFAULT_INPUT_TABLE = "rides"


@dataclass(frozen=True)
class InputSpec:
    """Where the rides are: the table and the name of each column in it."""

    table: str = DEFAULT_INPUT_TABLE
    columns: Mapping[str, str] = field(default_factory=dict)
    #: the table has no drop-off column: no actual durations
    no_dropoff: bool = False

    def name_of(self, role: str) -> str:
        return self.columns.get(role, role)

    def role_of(self, name: str) -> str:
        for role in INPUT_COLUMNS:
            if self.name_of(role) == name:
                return role
        raise KeyError(name)

    def clause(self) -> TableClause:
        """The table as a clause with exactly the mapped columns (never reflected).

        Columns carry no SQL type: values come back as the driver gives them (a
        PostgreSQL timestamp as ``datetime``, SQLite text as ``str``), and
        ``source`` turns each into what the validator reads, so no stored value
        can raise in a type conversion."""
        schema, _, name = self.table.rpartition(".")
        roles = [r for r in INPUT_COLUMNS if not (self.no_dropoff and r == "dropoff_datetime")]
        return table(name, *(column(self.name_of(r)) for r in roles), schema=schema or None)
