"""The monitoring database under test: every test that takes ``db_url`` runs on the
embedded SQLite and on a real PostgreSQL server started for the session."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.support.postgres import fresh_database


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'monitoring.db'}"
    return fresh_database(request.getfixturevalue("postgres_admin"))


PREDICTIONS_ARN = "arn:aws:kinesis:us-east-1:000000000000:stream/ride_predictions"
SHADOW_ARN = "arn:aws:kinesis:us-east-1:000000000000:stream/ride_shadow_predictions"
DEAD_LETTER_ARN = "arn:aws:kinesis:us-east-1:000000000000:stream/ride_dead_letters"
FINISHED_ARN = "arn:aws:kinesis:us-east-1:000000000000:stream/ride_finished"
RIDES_ARN = "arn:aws:kinesis:us-east-1:000000000000:stream/ride_events"
#: 2026-11-27T10:00:00Z, a window's start
T0 = 1_795_773_600


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def prediction(ride_id: Any, minutes: float, version: str = "v1", seq: int = 0) -> dict:
    return {
        "model": "ride_duration_prediction_model",
        "version": version,
        "prediction": {"ride_duration": minutes, "ride_id": ride_id},
        "source": {"eventID": f"shardId-000000000000:{seq:056d}"},
    }


def started(ride_id: Any, pu: int = 130, do: int = 205) -> dict:
    return {
        "ride": {"PULocationID": pu, "DOLocationID": do, "trip_distance": 3.66},
        "ride_id": ride_id,
    }


def finished(ride_id: Any, minutes: float) -> dict:
    return {"event": "ride_finished", "version": 1, "ride_id": ride_id, "duration_minutes": minutes}


def window_event(
    items: list[Any],
    *,
    arn: str = PREDICTIONS_ARN,
    start: int = T0,
    length: int = 60,
    final: bool = False,
    state: Any = None,
    shard: str = "shardId-000000000000",
) -> dict[str, Any]:
    """A tumbling-window invocation as Lambda makes it; ``items``: events (encoded as
    JSON) or raw bytes."""
    records = []
    for i, item in enumerate(items):
        data = item if isinstance(item, bytes) else json.dumps(item).encode()
        records.append(
            {
                "kinesis": {
                    "data": base64.b64encode(data).decode(),
                    "approximateArrivalTimestamp": start + 1 + i * 0.001,
                    "sequenceNumber": f"{i:056d}",
                    "partitionKey": str(i),
                },
                "eventSourceARN": arn,
                "eventID": f"{shard}:{i:056d}",
            }
        )
    return {
        "Records": records,
        "window": {"start": iso(start), "end": iso(start + length)},
        "state": state if state is not None else {},
        "shardId": shard,
        "eventSourceARN": arn,
        "isFinalInvokeForWindow": final,
        "isWindowTerminatedEarly": False,
    }
