"""The input: the user's rides table, named with its columns from a mapping.

``InputSpec`` names the table and each of its six columns by role (``--table``,
``--column ROLE=NAME``, or ``BATCH_INPUT_TABLE``/``BATCH_COLUMNS``) and makes a
clause of exactly those columns, without reflecting the table: nothing else is
ever read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import column, table
from sqlalchemy.sql.expression import TableClause

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

    def __post_init__(self) -> None:
        names = [self.name_of(r) for r in INPUT_COLUMNS]
        if len(set(names)) != len(names):
            raise ValueError(
                f"two roles would read the same column ({', '.join(names)}); "
                "give each role its own column"
            )

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
