"""The scheduled batch function: settings at init, one day scored per invocation.

EventBridge Scheduler invokes it once a day (template.yaml: a cron in
America/New_York) with ``{"scheduled_time": "<aws.scheduler.scheduled-time>"}``;
the day scored is the day before that time in New York, so a late retry of
the 01:00 run still scores the right day. ``{"date": "YYYY-MM-DD"}`` scores
that day instead (the runbook's backfill invokes it once per day).

Settings (checked at init, like the other functions'):

| variable | meaning | default |
|---|---|---|
| ``MONITORING_DB_URL`` / ``MONITORING_DB_SECRET_ARN`` | the database, shared with the monitoring function | required on Lambda; ``sqlite:///batch.db`` locally |
| ``BATCH_INPUT_TABLE`` | the rides table, optionally ``schema.table`` | ``rides`` |
| ``BATCH_COLUMNS`` | ``role=column`` pairs, comma-separated, for a table with other names | none |
| ``BATCH_CHUNK_ROWS`` | rows per read | 10000 |
| ``MODEL_LOCATION`` | the model | the shipped ``models/`` |

Each run prints one EMF line (namespace ``RideDurationBatch``): RidesScored,
RidesRejected and RunSucceeded; the template's alarm fires on a day whose run
did not happen or scored nothing.
"""  # noqa: E501

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from streaming.batch.days import DayError, ServiceDay, parse_day, yesterday
from streaming.batch.input_table import INPUT_COLUMNS, InputSpec
from streaming.batch.job import score_day
from streaming.consumer.config import SHIPPED_MODEL_DIR
from streaming.model import LoadedModel, load_model
from streaming.monitoring.emf import emf_line
from streaming.monitoring.secret import open_database
from streaming.monitoring.settings import database_from_env, int_setting

NAMESPACE = "RideDurationBatch"
LOCAL_DB_URL = "sqlite:///batch.db"


class BatchConfigError(ValueError):
    """A setting that cannot work; the message names the variable and the fix."""


@dataclass(frozen=True)
class BatchSettings:
    db_url: str
    db_secret_arn: str | None
    spec: InputSpec
    chunk_rows: int
    model_location: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BatchSettings:
        env = os.environ if env is None else env
        url, secret = database_from_env(env, LOCAL_DB_URL, BatchConfigError)
        table = env.get("BATCH_INPUT_TABLE", "").strip() or "rides"
        return cls(
            db_url=url,
            db_secret_arn=secret,
            spec=InputSpec(table, parse_columns(env.get("BATCH_COLUMNS", ""))),
            chunk_rows=int_setting(
                env, "BATCH_CHUNK_ROWS", 10_000, 100, 1_000_000, BatchConfigError
            ),
            model_location=env.get("MODEL_LOCATION", "").strip() or str(SHIPPED_MODEL_DIR),
        )


def parse_columns(text: str) -> dict[str, str]:
    """``pickup_datetime=lpep_pickup_datetime,ride_id=id`` -> role: column."""
    columns: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        role, sep, name = pair.partition("=")
        role, name = role.strip(), name.strip()
        if not sep or role not in INPUT_COLUMNS or not name:
            raise BatchConfigError(
                f"BATCH_COLUMNS={text!r}: give role=column pairs, comma-separated, with roles "
                f"from {', '.join(INPUT_COLUMNS)}"
            )
        columns[role] = name
    try:
        InputSpec(columns=columns)
    except ValueError as exc:
        raise BatchConfigError(f"BATCH_COLUMNS={text!r}: {exc}") from exc
    return columns


class BatchFunction:
    """Model, settings and database injected: tests run it with no AWS."""

    def __init__(
        self,
        engine: Engine,
        model: LoadedModel,
        settings: BatchSettings,
        *,
        emit: Callable[[str], None] = print,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.model = model
        self.settings = settings
        self.emit = emit
        self.clock = clock

    def handle(self, event: Any, context: Any = None) -> dict[str, Any]:
        day = day_of(event)
        try:
            result = score_day(
                self.engine,
                self.model,
                self.settings.spec,
                day,
                chunk_rows=self.settings.chunk_rows,
            )
        except Exception:
            self.emit(self._metrics(day, 0, 0, succeeded=False))
            raise
        s = result.summary
        self.emit(self._metrics(day, s.predicted, s.rejected, succeeded=True))
        return {
            "day": str(day),
            "hours": day.hours,
            "run_id": result.run_id,
            "model_version": result.model_version,
            "rides_read": result.rides_read,
            "predicted": s.predicted,
            "rejected": s.rejected,
            "rejects_by_reason": dict(s.rejects),
            "rmse": s.total.rmse,
            "seconds": round(result.seconds, 3),
        }

    def _metrics(self, day: ServiceDay, scored: int, rejected: int, *, succeeded: bool) -> str:
        return emf_line(
            NAMESPACE,
            {},
            {
                "RidesScored": (scored, "Count"),
                "RidesRejected": (rejected, "Count"),
                "RunSucceeded": (1.0 if succeeded else 0.0, "Count"),
            },
            int(self.clock() * 1000),
        )


def day_of(event: Any) -> ServiceDay:
    """The day an invocation asks for: ``date``, else the day before ``scheduled_time``
    (or before now) in New York. A malformed event is refused with what to send."""
    if not isinstance(event, dict):
        event = {}
    if event.get("date") is not None:
        return ServiceDay(parse_day(str(event["date"])[:20]))
    scheduled = event.get("scheduled_time")
    if scheduled is None:
        return ServiceDay(yesterday())
    try:
        moment = datetime.fromisoformat(str(scheduled)[:40].replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise DayError(
            f"scheduled_time {str(scheduled)[:40]!r} is not an ISO 8601 time with its zone: "
            "the schedule's input should be <aws.scheduler.scheduled-time>"
        )
    return ServiceDay(yesterday(moment))


def build_batch_function(
    env: Mapping[str, str] | None = None, *, emit: Callable[[str], None] = print
) -> BatchFunction:
    settings = BatchSettings.from_env(env)
    engine = open_database(settings.db_url, settings.db_secret_arn, BatchConfigError)
    return BatchFunction(engine, load_model(settings.model_location), settings, emit=emit)
