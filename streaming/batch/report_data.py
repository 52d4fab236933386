"""What the report shows, read back from the database (the report can be made again
for any day already scored: ``streaming batch report``)."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, func, select

from streaming.batch.days import ServiceDay
from streaming.batch.report import DayFigures
from streaming.batch.summary import MAX_ZONE, DaySummary
from streaming.database.batch_tables import predictions, rejects, runs

HISTORY_DAYS = 14
#: rows read per fetch when rebuilding a day's figures
FETCH_ROWS = 10_000


def day_summary(engine: Engine, day: ServiceDay, version: str) -> DaySummary:
    """The day's figures from its stored predictions and rejects (bounded memory)."""
    summary = DaySummary()
    p = predictions.c
    query = select(p.predicted_duration, p.actual_duration, p.pickup_datetime, p.pu_location_id)
    query = query.where(p.service_day == day.day, p.model_version == version)
    with engine.connect() as conn:
        result = conn.execute(
            query, execution_options={"stream_results": True, "yield_per": FETCH_ROWS}
        )
        for minutes, actual, pickup, zone in result:
            summary.add_prediction(minutes, actual, pickup, zone)
        r = rejects.c
        counts = conn.execute(
            select(r.reason, func.count())
            .where(r.service_day == day.day, r.model_version == version)
            .group_by(r.reason)
        )
        for reason, count in counts:
            summary.rejects[reason] += count
    return summary


def history(
    engine: Engine, day: ServiceDay, version: str, days: int = HISTORY_DAYS
) -> list[DayFigures]:
    """The ``days`` before ``day``, each as its latest successful run of ``version``
    recorded it (days never scored are left out), oldest first."""
    c = runs.c
    query = (
        select(c.service_day, c.predicted, c.rejected, c.mean_predicted, c.rmse)
        .where(
            c.model_version == version,
            c.status == "succeeded",
            c.service_day < day.day,
            c.service_day >= day.day - timedelta(days=days),
        )
        .order_by(c.service_day, c.finished_at)
    )
    latest: dict = {}
    with engine.connect() as conn:
        for row in conn.execute(query):
            latest[row.service_day] = DayFigures(
                row.service_day, row.predicted or 0, row.rejected or 0, row.mean_predicted, row.rmse
            )
    return [latest[d] for d in sorted(latest)]


def zone_names(path: Path) -> dict[int, str]:
    """TLC's zone lookup (``LocationID,Borough,Zone,...``) -> id: "Zone (Borough)".
    A missing or unreadable file gives no names (the report shows ids)."""
    names: dict[int, str] = {}
    try:
        with path.open(newline="", encoding="utf-8", errors="replace") as f:
            for row in csv.DictReader(f):
                try:
                    zone = int(row.get("LocationID") or "")
                except ValueError:
                    continue
                if 1 <= zone <= MAX_ZONE:
                    names[zone] = f"{row.get('Zone') or ''} ({row.get('Borough') or ''})"[:80]
    except (OSError, csv.Error):
        return {}
    return names
