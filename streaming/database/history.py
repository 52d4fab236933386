"""The database's schema history: one list of numbered migrations for every table of
the project (the monitoring function's and the batch job's), one ``schema_version``
table.

A database of any older version is brought to ``LATEST`` one numbered step at a
time, each recorded in ``schema_version`` in the same transaction as its DDL
(``engine.migrate``). The monitoring function and the batch job share the
database (template.yaml: one secret), so they share its history.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, Text

from streaming.database.batch_tables import BATCH_TABLES
from streaming.database.monitoring_tables import (
    completed_rides,
    dead_letter_windows,
    join_outcomes,
    model_references,
    monitoring_windows,
    pending_finished,
    pending_predictions,
    ride_windows,
)

metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("description", Text, nullable=False),
    Column("applied_at", String(32), nullable=False),
)


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[Connection], None]


def _create(*tables: Table) -> Callable[[Connection], None]:
    def apply(connection: Connection) -> None:
        for table in tables:
            table.create(connection)

    return apply


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "monitoring: windows, dead letters, the predictions/actuals join, model references",
        _create(
            monitoring_windows,
            dead_letter_windows,
            pending_predictions,
            pending_finished,
            completed_rides,
            join_outcomes,
            model_references,
        ),
    ),
    Migration(2, "rides started per window and their unknown zones", _create(ride_windows)),
    Migration(
        3,
        "batch job: predictions, rejects and runs",
        _create(*BATCH_TABLES),
    ),
)

LATEST = MIGRATIONS[-1].version
