"""The monitoring function: a tumbling-window consumer of the predictions, shadow,
dead-letter and ride-finished streams, writing to the monitoring database.

Per invocation (*Using tumbling windows with Kinesis*, Lambda docs): the batch's
records are added to the shard's window state, which goes back to Lambda in the
response (``{"state": ...}``: "If the response does not contain a state property,
Lambda considers this a failed invocation"). Predictions and finished rides go to
the database at once, in one transaction, because their join outlives any window
(they arrive on different streams through different mappings). When
``isFinalInvokeForWindow`` is set, the window's rows are written (replacing any
earlier delivery of the same final window), what waited too long is counted and
dropped, and the window's metrics are printed in CloudWatch's embedded metric
format for the alarms.

Anything that fails raises: the mapping retries the same batch with the same state,
and every write is idempotent (``database/monitoring_tables.py``), so a retry counts nothing twice.
A record never raises: an unusable one is counted in the window's ``skipped``.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from streaming.monitoring import read, store
from streaming.monitoring.drift import Histogram, ks_distance, psi
from streaming.monitoring.emf import emf_line
from streaming.monitoring.records import (
    DeadLetter,
    FinishedRide,
    Predicted,
    RideStarted,
    Skipped,
    read_records,
)
from streaming.monitoring.settings import MonitoringSettings
from streaming.monitoring.window_state import WindowState, parse_state

NAMESPACE = "RideDurationMonitoring"
#: Kinesis: a stream name is 1-128 of [a-zA-Z0-9_.-]; a shard id is at most 128 chars
_STREAM_ARN = re.compile(
    r"^arn:[^:]{1,32}:kinesis:[^:]{0,32}:\d{0,12}:stream/([A-Za-z0-9_.-]{1,128})"
)
MAX_SHARD_CHARS = 128


class NotAWindowedEvent(ValueError):
    """The mapping has no tumbling window: the function cannot keep windows."""


@dataclass(frozen=True)
class Window:
    start: int
    end: int


class MonitoringService:
    """Model (database) and outputs (metrics) injected: tests need no AWS."""

    def __init__(
        self,
        engine: Engine,
        settings: MonitoringSettings,
        *,
        emit: Callable[[str], None] = print,
        references: dict[str, Histogram] | None = None,
        known_zones: tuple[frozenset[int], frozenset[int]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self._emit = emit
        self._references = dict(references or {})
        #: (pickup, drop-off) zones the champion knows: rides elsewhere are "unknown"
        self.known_zones = known_zones
        self._clock = clock

    def handle(self, event: Any, context: Any = None) -> dict[str, Any]:
        """One invocation of a windowed mapping; returns ``{"state": ...}``."""
        if not isinstance(event, dict):
            raise NotAWindowedEvent("the event is not a Kinesis tumbling-window event")
        window = window_of(event)
        stream = stream_name(event.get("eventSourceARN"), event.get("Records"))
        shard = str(event.get("shardId") or "-")[:MAX_SHARD_CHARS]
        role = "shadow" if stream == self.settings.shadow_stream else "champion"
        state = parse_state(event.get("state"))
        self._add_batch(state, event.get("Records"), role, window)
        if event.get("isFinalInvokeForWindow") is True:
            self._close(window, stream, shard, state)
            return {"state": {}}
        return {"state": state.as_json()}

    # -- one batch ------------------------------------------------------------------

    def _add_batch(self, state: WindowState, records: Any, role: str, window: Window) -> None:
        predictions: list[store.PendingPrediction] = []
        finished: list[store.Finished] = []
        for arrival, item in read_records(records):
            match item:
                case Predicted(ride_key=key, version=version, minutes=minutes):
                    state.add_prediction(version, role, minutes)
                    predictions.append(
                        store.PendingPrediction(
                            key, role, (version or "(none)"), minutes, window.start, arrival
                        )
                    )
                case FinishedRide(ride_key=key, minutes=minutes):
                    state.finished += 1
                    finished.append(store.Finished(key, minutes, window.start, arrival))
                case DeadLetter(reason=reason):
                    state.add_dead_letter(reason)
                case RideStarted(pu_location_id=pu, do_location_id=do):
                    known = self.known_zones
                    state.add_ride(known is None or pu in known[0], known is None or do in known[1])
                case Skipped(reason=reason):
                    state.skip(reason)
        if predictions or finished:
            with self.engine.begin() as conn:
                store.add_predictions(conn, predictions)
                store.add_finished(conn, finished)

    # -- the end of a window ----------------------------------------------------------

    def _close(self, window: Window, stream: str, shard: str, state: WindowState) -> None:
        key = store.WindowKey(window.start, window.end, stream, shard)
        versions = {name: group.as_json() for name, group in state.versions.items()}
        rides = None
        if state.rides:
            zones = self.known_zones is not None
            rides = store.RideCounts(
                state.rides,
                state.unknown_zone_rides if zones else None,
                state.unknown_pu if zones else None,
                state.unknown_do if zones else None,
            )
        with self.engine.begin() as conn:
            store.write_window(conn, key, versions, state.dead_letters, rides)
            dropped = store.expire(
                conn, window.end - self.settings.pending_ttl_s, self.settings.pending_max
            )
        self._metrics(window, state, dropped)

    def _metrics(self, window: Window, state: WindowState, dropped: dict[str, int]) -> None:
        at_ms = window.end * 1000
        for version, group in state.versions.items():
            values: dict[str, tuple[float, str]] = {"Predictions": (group.records, "Count")}
            values |= self._drift(window, version)
            self._emit(emf_line(NAMESPACE, {"Role": group.role}, values, at_ms))
        if state.rides:
            values = {"RidesStarted": (float(state.rides), "Count")}
            if self.known_zones is not None:
                share = 100.0 * state.unknown_zone_rides / state.rides
                values["UnknownZoneShare"] = (share, "Percent")
            self._emit(emf_line(NAMESPACE, {}, values, at_ms))
        if state.dead_letters:
            total = sum(state.dead_letters.values())
            self._emit(emf_line(NAMESPACE, {}, {"DeadLetters": (total, "Count")}, at_ms))
        if dropped:
            counts = {f"Join_{k}": (float(v), "Count") for k, v in dropped.items()}
            self._emit(emf_line(NAMESPACE, {}, counts, at_ms))
        if state.finished:
            self._quality_metrics(window, at_ms)

    def _drift(self, window: Window, version: str) -> dict[str, tuple[float, str]]:
        """PSI and KS of the window so far (every shard written yet, merged) against
        the version's training reference; nothing below the minimum of records."""
        reference = self._reference(version)
        if reference is None:
            return {}
        with self.engine.connect() as conn:
            current = read.window_histogram(conn, window.start, version)
        if current.total < self.settings.min_drift_records:
            return {}
        out: dict[str, tuple[float, str]] = {}
        for name, value in (
            ("DriftPSI", psi(reference, current)),
            ("DriftKS", ks_distance(reference, current)),
        ):
            if value is not None:
                out[name] = (value, "None")
        return out

    def _reference(self, version: str) -> Histogram | None:
        if version not in self._references:
            with self.engine.connect() as conn:
                self._references[version] = read.reference(conn, version)
        return self._references[version]

    def _quality_metrics(self, window: Window, at_ms: int) -> None:
        with self.engine.connect() as conn:
            rows = read.quality(conn, window.start, window.start)
        for row in rows:
            values = {
                "RMSE": (row.rmse, "None"),
                "MAE": (row.mae, "None"),
                "FinishedRides": (float(row.rides), "Count"),
            }
            self._emit(emf_line(NAMESPACE, {"Role": row.role}, values, at_ms))


def window_of(event: dict[str, Any]) -> Window:
    """The invocation's window (epoch seconds), from ``window.start``/``end``."""
    window = event.get("window")
    if not isinstance(window, dict):
        raise NotAWindowedEvent(
            "the event has no tumbling window: give the mapping TumblingWindowInSeconds "
            "(template.yaml does; locally: streaming run --tumbling-window 60)"
        )
    try:
        start, end = (_epoch(window[k]) for k in ("start", "end"))
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        raise NotAWindowedEvent(f"the event's window is not readable: {window!r:.200}") from exc
    if not start < end:
        raise NotAWindowedEvent(f"the event's window ends before it starts: {window!r:.200}")
    return Window(start, end)


def _epoch(value: Any) -> int:
    if not isinstance(value, str) or len(value) > 40:
        raise ValueError("not a time")
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("no offset")
    seconds = moment.timestamp()
    if not math.isfinite(seconds):
        raise ValueError("not finite")
    return int(seconds)


def stream_name(arn: Any, records: Any) -> str:
    """The source stream's name from the event's (or first record's) ARN, else "-"."""
    if not isinstance(arn, str) and isinstance(records, list) and records:
        first = records[0]
        arn = first.get("eventSourceARN") if isinstance(first, dict) else None
    found = _STREAM_ARN.match(arn) if isinstance(arn, str) else None
    return found.group(1) if found else "-"
