"""The batch job's database under test: every test that takes ``batch_db`` runs on the
embedded SQLite and on the real PostgreSQL server started for the session."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine

from streaming.batch.tlc_import import rides_table
from streaming.database.engine import open_store
from tests.support.postgres import fresh_database


@pytest.fixture(params=["sqlite", "postgresql"])
def batch_db(request, tmp_path) -> tuple[str, Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'batch.db'}"
    else:
        url = fresh_database(request.getfixturevalue("postgres_admin"))
    engine = open_store(url)
    yield url, engine
    engine.dispose()


def ride(
    ride_id: Any,
    pickup: datetime | None,
    *,
    pu: Any = 130,
    do: Any = 205,
    km: Any = 3.66,
    minutes: float | None = 12.0,
) -> dict[str, Any]:
    """A row of the default ``rides`` table."""
    from datetime import timedelta

    dropoff = None if pickup is None or minutes is None else pickup + timedelta(minutes=minutes)
    return {
        "ride_id": ride_id,
        "pickup_datetime": pickup,
        "pu_location_id": pu,
        "do_location_id": do,
        "trip_distance": km,
        "dropoff_datetime": dropoff,
    }


def load_rides(engine: Engine, rows: list[dict[str, Any]]) -> None:
    """Create the default ``rides`` table (if missing) and add ``rows``."""
    table = rides_table()
    with engine.begin() as conn:
        table.create(conn, checkfirst=True)
        if rows:
            conn.execute(table.insert(), rows)
