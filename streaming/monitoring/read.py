"""Reading the monitoring database: the rows of a window merged across shards, the
quality of predictions per window of finishing time, for the alarms and the dashboard.

Each shard closes its own window and writes its own rows, so every figure of a
window is a sum over its rows, made here when read: counts and histograms add
exactly, RMSE and MAE come from sums over ``completed_rides``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from streaming.database.monitoring_tables import (
    completed_rides,
    dead_letter_windows,
    join_outcomes,
    model_references,
    monitoring_windows,
    ride_windows,
)
from streaming.monitoring.drift import Histogram, merge_all


def _histogram(text: str) -> Histogram:
    try:
        return Histogram.from_counts(json.loads(text))
    except (ValueError, TypeError):  # a row written by hand, or by other code
        return Histogram.empty()


def window_histogram(conn: Connection, window_start: int, version: str) -> Histogram:
    w = monitoring_windows.c
    rows = conn.execute(
        select(w.histogram).where(w.window_start == window_start, w.model_version == version)
    ).scalars()
    return merge_all(_histogram(text) for text in rows)


def reference(conn: Connection, version: str) -> Histogram | None:
    r = model_references.c
    text = conn.execute(select(r.histogram).where(r.model_version == version)).scalar()
    if text is None:
        return None
    histogram = _histogram(text)
    return histogram if histogram.total else None


@dataclass(frozen=True)
class WindowRow:
    window_start: int
    window_end: int
    model_version: str
    role: str
    records: int
    mean_minutes: float | None
    histogram: Histogram
    shards: int


def windows(conn: Connection, since: int = 0) -> list[WindowRow]:
    """Per (window, model version): the rows of every shard and stream, merged."""
    w = monitoring_windows.c
    query = (
        select(w.window_start, w.window_end, w.model_version, w.role, w.records, w.minutes_sum)
        .add_columns(w.histogram)
        .where(w.window_start >= since)
        .order_by(w.window_start, w.model_version)
    )
    merged: dict[tuple[int, str], dict] = {}
    for start, end, version, role, records, minutes_sum, text in conn.execute(query):
        group = merged.setdefault(
            (start, version),
            {"end": end, "role": role, "records": 0, "sum": 0.0, "hists": [], "shards": 0},
        )
        group["end"] = max(group["end"], end)
        group["records"] += records
        group["sum"] += minutes_sum
        group["hists"].append(_histogram(text))
        group["shards"] += 1
    return [
        WindowRow(
            start,
            g["end"],
            version,
            g["role"],
            g["records"],
            g["sum"] / g["records"] if g["records"] else None,
            merge_all(g["hists"]),
            g["shards"],
        )
        for (start, version), g in merged.items()
    ]


def dead_letters(conn: Connection, since: int = 0) -> dict[int, dict[str, int]]:
    """window start -> reason -> dead letters, every shard added up."""
    d = dead_letter_windows.c
    query = (
        select(d.window_start, d.reason, func.sum(d.records))
        .where(d.window_start >= since)
        .group_by(d.window_start, d.reason)
    )
    out: dict[int, dict[str, int]] = {}
    for start, reason, n in conn.execute(query):
        out.setdefault(start, {})[reason] = int(n)
    return out


@dataclass(frozen=True)
class QualityRow:
    window_start: int
    role: str
    model_version: str
    rides: int
    rmse: float
    mae: float


def quality(conn: Connection, since: int = 0, until: int | None = None) -> list[QualityRow]:
    """RMSE and MAE per window of finishing time, role and model version."""
    c = completed_rides.c
    error = c.predicted_minutes - c.actual_minutes
    query = select(
        c.window_start,
        c.role,
        c.model_version,
        func.count(),
        func.sum(error * error),
        func.sum(func.abs(error)),
    ).where(c.window_start >= since)
    if until is not None:
        query = query.where(c.window_start <= until)
    query = query.group_by(c.window_start, c.role, c.model_version).order_by(c.window_start)
    return [
        QualityRow(start, role, version, n, math.sqrt(sq / n), absolute / n)
        for start, role, version, n, sq, absolute in conn.execute(query)
    ]


def join_counts(conn: Connection, since: int = 0) -> dict[int, dict[str, int]]:
    """window start -> outcome (never_finished, never_predicted, evicted) -> rides."""
    j = join_outcomes.c
    query = (
        select(j.window_start, j.outcome, func.sum(j.rides))
        .where(j.window_start >= since)
        .group_by(j.window_start, j.outcome)
    )
    out: dict[int, dict[str, int]] = {}
    for start, outcome, n in conn.execute(query):
        out.setdefault(start, {})[outcome] = int(n)
    return out


def rides(conn: Connection, since: int = 0) -> dict[int, dict[str, int | None]]:
    """window start -> rides started and those in unknown zones (None: not known),
    every shard added up."""
    r = ride_windows.c
    query = (
        select(r.window_start, func.sum(r.rides), func.sum(r.unknown_zone_rides), func.count())
        .add_columns(func.count(r.unknown_zone_rides))
        .where(r.window_start >= since)
        .group_by(r.window_start)
    )
    out: dict[int, dict[str, int | None]] = {}
    for start, started, unknown, rows, rows_known in conn.execute(query):
        # a window some of whose shards did not know the zones has no share
        out[start] = {
            "rides": int(started),
            "unknown_zone_rides": int(unknown) if rows_known == rows else None,
        }
    return out
