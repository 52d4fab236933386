"""What the dashboard shows, as one JSON document built from the monitoring database.

Pure over ``monitoring.read``: every window of the period on one time axis (a window
with no rows is a gap, ``None``, never a zero that would read as "no rides"), the
series the charts draw, and the latest windows for the table. Drift is computed
here from the merged histograms against each version's training reference.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from sqlalchemy import Connection

from streaming.monitoring import read
from streaming.monitoring.drift import Histogram, ks_distance, psi

#: the drift threshold the alarm uses by default (template.yaml DriftAlarmThreshold)
PSI_THRESHOLD = 0.2
#: rows of the "latest windows" table
LATEST_ROWS = 12
#: a window needs this many predictions for its drift to be drawn (as the alarm's metric)
MIN_DRIFT_RECORDS = 200


def _round(value: float | None, digits: int = 4) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value, digits)


def build_summary(conn: Connection, since: int = 0, now: float | None = None) -> dict[str, Any]:
    windows = read.windows(conn, since)
    quality = read.quality(conn, since)
    letters = read.dead_letters(conn, since)
    joins = read.join_counts(conn, since)
    started = read.rides(conn, since)
    references: dict[str, Histogram | None] = {}

    def reference(version: str) -> Histogram | None:
        if version not in references:
            references[version] = read.reference(conn, version)
        return references[version]

    starts = sorted(
        {w.window_start for w in windows}
        | {q.window_start for q in quality}
        | set(letters)
        | set(started)
    )
    rows = [_window_row(w, reference(w.model_version)) for w in windows]
    return {
        "generated_at": now,
        "psi_threshold": PSI_THRESHOLD,
        "window_starts": starts,
        "series": _series(starts, rows, quality, letters) | _ride_series(starts, started),
        "latest": _latest(rows, quality, letters, joins),
        "totals": {
            "windows": len(starts),
            "predictions": sum(w.records for w in windows if w.role == "champion"),
            "finished_rides": sum(q.rides for q in quality if q.role == "champion"),
            "dead_letters": sum(sum(r.values()) for r in letters.values()),
            "rides_started": sum(r["rides"] for r in started.values()),
        },
    }


def _window_row(window: read.WindowRow, reference: Histogram | None) -> dict[str, Any]:
    enough = reference is not None and window.records >= MIN_DRIFT_RECORDS
    return {
        "start": window.window_start,
        "end": window.window_end,
        "version": window.model_version,
        "role": window.role,
        "records": window.records,
        "mean": _round(window.mean_minutes, 3),
        "psi": _round(psi(reference, window.histogram)) if enough and reference else None,
        "ks": _round(ks_distance(reference, window.histogram)) if enough and reference else None,
        "shards": window.shards,
    }


def _series(
    starts: list[int],
    rows: list[dict[str, Any]],
    quality: list[read.QualityRow],
    letters: dict[int, dict[str, int]],
) -> dict[str, Any]:
    index = {start: i for i, start in enumerate(starts)}

    def empty() -> list[Any]:
        return [None] * len(starts)

    out: dict[str, Any] = {
        name: empty()
        for name in (
            "champion_records",
            "shadow_records",
            "psi",
            "ks",
            "champion_mean",
            "shadow_mean",
            "shadow_minus_champion",
            "rmse_champion",
            "mae_champion",
            "rmse_shadow",
            "mae_shadow",
            "finished",
        )
    }
    by_role: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_role[(row["start"], row["role"])].append(row)
    for (start, role), group in by_role.items():
        i = index[start]
        records = sum(r["records"] for r in group)
        out[f"{role}_records"][i] = records
        weighted = [(r["mean"], r["records"]) for r in group if r["mean"] is not None]
        if weighted and records:
            out[f"{role}_mean"][i] = _round(sum(m * n for m, n in weighted) / records, 3)
        if role == "champion":  # drift of the version that served most of the window
            main = max(group, key=lambda r: r["records"])
            out["psi"][i], out["ks"][i] = main["psi"], main["ks"]
    for i in range(len(starts)):
        champion, shadow = out["champion_mean"][i], out["shadow_mean"][i]
        if champion is not None and shadow is not None:
            out["shadow_minus_champion"][i] = _round(shadow - champion, 3)
    for q in quality:
        i = index[q.window_start]
        out[f"rmse_{q.role}"][i] = _round(q.rmse, 3)
        out[f"mae_{q.role}"][i] = _round(q.mae, 3)
        if q.role == "champion":
            out["finished"][i] = (out["finished"][i] or 0) + q.rides
    reasons = sorted({r for counts in letters.values() for r in counts})
    out["dead_letters"] = {
        reason: [letters.get(start, {}).get(reason) for start in starts] for reason in reasons
    }
    return out


def _ride_series(starts: list[int], started: dict[int, dict[str, int | None]]) -> dict[str, Any]:
    """Rides started per window (the input stream) and the % in unknown zones."""
    counts: list[int | None] = []
    shares: list[float | None] = []
    for start in starts:
        row = started.get(start)
        counts.append(row["rides"] if row else None)
        unknown = row["unknown_zone_rides"] if row else None
        shares.append(
            _round(100.0 * unknown / row["rides"], 3)
            if row and unknown is not None and row["rides"]
            else None
        )
    return {"rides_started": counts, "unknown_zone_share": shares}


def _latest(
    rows: list[dict[str, Any]],
    quality: list[read.QualityRow],
    letters: dict[int, dict[str, int]],
    joins: dict[int, dict[str, int]],
) -> list[dict[str, Any]]:
    fit = {(q.window_start, q.model_version): q for q in quality}
    latest = sorted(rows, key=lambda r: (-r["start"], r["role"], r["version"]))[:LATEST_ROWS]
    out = []
    for row in latest:
        q = fit.get((row["start"], row["version"]))
        out.append(
            {
                **row,
                "finished": q.rides if q else None,
                "rmse": _round(q.rmse, 3) if q else None,
                "mae": _round(q.mae, 3) if q else None,
                "dead_letters": sum(letters.get(row["start"], {}).values()) or None,
                "never_finished": joins.get(row["start"], {}).get("never_finished"),
            }
        )
    return out
