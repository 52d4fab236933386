"""The monitoring function's writes, each idempotent.

``MONITORING_DB_URL`` names the database (``streaming.database``: SQLite or
PostgreSQL, opened and migrated by ``open_store``). Every write is keyed so that
writing it twice changes nothing (``database/monitoring_tables.py``), and every group of writes that
belongs together runs in one transaction: a batch whose transaction fails (the
database down, a lock timeout) raises, the mapping retries it, nothing is half
written.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from streaming.database.engine import StoreError, insert_of, make_engine, migrate, open_store
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

#: keys per IN (...) list: well under SQLite's 32,766 bound variables
KEYS_PER_QUERY = 500

# -- windows -------------------------------------------------------------------------


@dataclass(frozen=True)
class WindowKey:
    window_start: int
    window_end: int
    stream: str
    shard_id: str


@dataclass(frozen=True)
class RideCounts:
    """A window's ride-started events; the unknown-zone counts are None when the
    function does not know the model's zones."""

    rides: int
    unknown_zone_rides: int | None
    unknown_pu: int | None
    unknown_do: int | None


def write_window(
    conn: Connection,
    key: WindowKey,
    versions: dict[str, dict[str, Any]],
    dead_letters: dict[str, int],
    rides: RideCounts | None = None,
) -> None:
    """One shard's final window: a row per model version, per dead-letter reason and
    for the rides started, replacing what an earlier delivery of the same final
    window wrote."""
    now = time.time()
    base = {
        "window_start": key.window_start,
        "window_end": key.window_end,
        "stream": key.stream,
        "shard_id": key.shard_id,
    }
    rows = [
        base
        | {
            "model_version": version,
            "role": group["role"],
            "records": group["records"],
            "minutes_sum": group["minutes_sum"],
            "histogram": json.dumps(group["histogram"]),
            "written_at": now,
        }
        for version, group in versions.items()
    ]
    if rows:
        _replace(conn, monitoring_windows, rows, ("records", "minutes_sum", "histogram", "role"))
    letters = [
        base | {"reason": reason, "records": n, "written_at": now}
        for reason, n in dead_letters.items()
    ]
    if letters:
        _replace(conn, dead_letter_windows, letters, ("records",))
    if rides is not None:
        row = base | asdict(rides) | {"written_at": now}
        _replace(conn, ride_windows, [row], tuple(asdict(rides)))


def _replace(conn: Connection, table: Any, rows: list[dict], columns: Sequence[str]) -> None:
    statement = insert_of(conn, table)
    keys = [c.name for c in table.primary_key.columns]
    updates = {c: statement.excluded[c] for c in (*columns, "window_end", "written_at")}
    conn.execute(statement.on_conflict_do_update(index_elements=keys, set_=updates), rows)


def write_reference(conn: Connection, model_version: str, counts: Sequence[int]) -> None:
    """The training reference of a model version (first writer wins: it never changes)."""
    statement = insert_of(conn, model_references).values(
        model_version=model_version, histogram=json.dumps(list(counts))
    )
    conn.execute(statement.on_conflict_do_nothing(index_elements=["model_version"]))


# -- the predictions / actuals join -------------------------------------------------


@dataclass(frozen=True)
class PendingPrediction:
    ride_key: str
    role: str
    model_version: str
    minutes: float
    window_start: int
    received_at: float


@dataclass(frozen=True)
class Finished:
    ride_key: str
    actual_minutes: float
    window_start: int
    received_at: float


def add_predictions(conn: Connection, predictions: Sequence[PendingPrediction]) -> None:
    """Predictions wait for their rides to finish (a redelivered one is a no-op)."""
    if not predictions:
        return
    rows = [asdict(p) for p in predictions]
    statement = insert_of(conn, pending_predictions).on_conflict_do_nothing(
        index_elements=["ride_key", "role", "model_version"]
    )
    conn.execute(statement, rows)
    complete(conn, {p.ride_key for p in predictions})


def add_finished(conn: Connection, rides: Sequence[Finished]) -> None:
    """Finished rides complete the predictions waiting for them, or wait themselves
    (the prediction may still be on its way: another stream, another mapping)."""
    if not rides:
        return
    statement = insert_of(conn, pending_finished).on_conflict_do_nothing(
        index_elements=["ride_key"]
    )
    conn.execute(statement, [asdict(r) for r in rides])
    complete(conn, {r.ride_key for r in rides})


def complete(conn: Connection, keys: Iterable[str] | None = None) -> None:
    """Move every prediction of ``keys`` (None: all) whose ride has finished to
    ``completed_rides`` (first completion wins), and out of the pending table.

    Two transactions can miss each other (a prediction and its finished ride
    committed at the same moment by two shards' batches); ``expire`` first
    completes everything pending, so such a pair is joined, not dropped."""
    if keys is None:
        _complete_where(conn, None)
        return
    for chunk in _chunks(sorted(keys)):
        _complete_where(conn, chunk)


def _complete_where(conn: Connection, chunk: list[str] | None) -> None:
    p, f = pending_predictions.c, pending_finished.c
    matched = select(
        p.ride_key, p.role, p.model_version, p.minutes, f.actual_minutes, f.window_start
    ).join(pending_finished, f.ride_key == p.ride_key)
    finished_keys = select(f.ride_key)
    if chunk is not None:
        matched = matched.where(p.ride_key.in_(chunk))
        finished_keys = finished_keys.where(f.ride_key.in_(chunk))
    columns = [
        "ride_key",
        "role",
        "model_version",
        "predicted_minutes",
        "actual_minutes",
        "window_start",
    ]
    insert = insert_of(conn, completed_rides).from_select(columns, matched)
    conn.execute(
        insert.on_conflict_do_nothing(index_elements=["ride_key", "role", "model_version"])
    )
    conn.execute(pending_predictions.delete().where(p.ride_key.in_(finished_keys)))


def expire(conn: Connection, before: float, max_pending: int) -> dict[str, int]:
    """Count and drop what waited too long: predictions received before ``before``
    (``never_finished``) and finished rides no prediction joined (``never_predicted``),
    per window of arrival; then the oldest beyond ``max_pending`` rows (``evicted``).
    Rows are counted from what the DELETE returned, so a row another batch adds
    meanwhile is neither dropped uncounted nor counted twice. Returns the counts."""
    complete(conn)
    p = pending_predictions.c
    dropped = {"never_finished": _drop_predictions(conn, p.received_at < before, "never_finished")}
    cutoff = _overflow_cutoff(conn, max_pending)
    if cutoff is not None:
        dropped["evicted"] = _drop_predictions(conn, p.received_at <= cutoff, "evicted")
    dropped["never_predicted"] = _drop_finished(conn, before)
    return {k: v for k, v in dropped.items() if v}


def _overflow_cutoff(conn: Connection, max_pending: int) -> float | None:
    p = pending_predictions.c
    total = conn.execute(select(func.count()).select_from(pending_predictions)).scalar() or 0
    if total <= max_pending:
        return None
    order = select(p.received_at).order_by(p.received_at).offset(total - max_pending - 1)
    return conn.execute(order.limit(1)).scalar()


def _drop_predictions(conn: Connection, predicate: Any, outcome: str) -> int:
    p = pending_predictions.c
    deleted = conn.execute(
        pending_predictions.delete()
        .where(predicate)
        .returning(p.window_start, p.role, p.model_version)
    ).all()
    for (window_start, role, version), n in Counter(map(tuple, deleted)).items():
        _add_outcome(conn, window_start, outcome, role, version, n)
    return len(deleted)


def _drop_finished(conn: Connection, before: float) -> int:
    f, c = pending_finished.c, completed_rides.c
    deleted = conn.execute(
        pending_finished.delete()
        .where(f.received_at < before)
        .returning(f.ride_key, f.window_start)
    ).all()
    joined: set[str] = set()
    for chunk in _chunks(sorted({key for key, _ in deleted})):
        joined.update(conn.execute(select(c.ride_key).where(c.ride_key.in_(chunk))).scalars())
    lonely = Counter(window for key, window in deleted if key not in joined)
    for window_start, n in lonely.items():
        _add_outcome(conn, window_start, "never_predicted", "-", "-", n)
    return sum(lonely.values())


def _add_outcome(
    conn: Connection, window_start: int, outcome: str, role: str, version: str, n: int
) -> None:
    statement = insert_of(conn, join_outcomes).values(
        window_start=window_start, outcome=outcome, role=role, model_version=version, rides=n
    )
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["window_start", "outcome", "role", "model_version"],
            set_={"rides": join_outcomes.c.rides + statement.excluded.rides},
        )
    )


def _chunks(keys: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(keys), KEYS_PER_QUERY):
        yield keys[i : i + KEYS_PER_QUERY]


#: the engine's functions, re-exported: the monitoring function opens its database here
__all__ = ["StoreError", "make_engine", "migrate", "open_store"]
