"""The same 1,000 real rides through the stream handler, batch scoring, the web service and
the daily batch job: every deployment mode must give the same prediction, to the last bit."""

from __future__ import annotations

import json

import pandas as pd

from streaming.consumer.config import Settings
from streaming.consumer.handler import RideDurationService
from streaming.serving.score import score
from tests.conftest import make_record
from tests.support.web import call


def test_handler_score_and_serve_agree(shipped_model, holdout_trips, server, tmp_path):
    sample = holdout_trips.sample(n=1000, random_state=9)
    events = [
        {
            "ride": {
                "PULocationID": int(r.PULocationID),
                "DOLocationID": int(r.DOLocationID),
                "trip_distance": float(r.trip_distance),
                "pickup_datetime": r.pickup_datetime.isoformat(),
            },
            "ride_id": int(i),
        }
        for i, r in zip(sample.index, sample.itertuples(), strict=True)
    ]

    # 1. the stream: one Lambda batch, TEST_RUN
    handler = RideDurationService(shipped_model, Settings(test_run=True))
    response = handler.handle(
        {"Records": [make_record(e, seq=n + 1) for n, e in enumerate(events)]}
    )
    stream = {
        p["prediction"]["ride_id"]: p["prediction"]["ride_duration"]
        for p in response["predictions"]
    }

    # 2. batch scoring: the same events as JSON lines
    source = tmp_path / "rides.jsonl"
    source.write_text("\n".join(json.dumps(e) for e in events))
    stats = score(
        shipped_model,
        str(source),
        str(tmp_path / "scored.parquet"),
        str(tmp_path / "rejected.parquet"),
        progress=False,
    )
    assert stats.predicted == 1000 and stats.rejected == 0
    scored_frame = pd.read_parquet(tmp_path / "scored.parquet")
    scored = dict(
        zip(scored_frame["ride_id"].astype(int), scored_frame["predicted_duration"], strict=True)
    )

    # 3. the web service over HTTP
    served = {}
    for e in events:
        status, answer = call("POST", "/predict", e, port=server)
        assert status == 200
        served[answer["ride_id"]] = answer["duration"]

    # 4. the daily batch job: the rides in a database, every day of them scored
    daily = batch_job(shipped_model, sample, tmp_path)

    assert len(stream) == len(scored) == len(served) == len(daily) == 1000
    assert stream == scored == served == daily  # exactly equal floats, ride by ride
    assert len(set(stream.values())) > 500  # real, varied predictions


def batch_job(model, trips: pd.DataFrame, tmp_path) -> dict[int, float]:
    """``trips`` in the batch job's ``rides`` table (SQLite), each day of them scored."""
    from datetime import timedelta

    from sqlalchemy import select

    from streaming.batch.days import ServiceDay
    from streaming.batch.input_table import InputSpec
    from streaming.batch.job import score_day
    from streaming.batch.tlc_import import rides_table
    from streaming.database.batch_tables import predictions
    from streaming.database.engine import open_store

    engine = open_store(f"sqlite:///{tmp_path / 'rides.db'}")
    table = rides_table()
    rows = [
        {
            "ride_id": int(i),
            "pickup_datetime": r.pickup_datetime.to_pydatetime(),
            "pu_location_id": int(r.PULocationID),
            "do_location_id": int(r.DOLocationID),
            "trip_distance": float(r.trip_distance),
            "dropoff_datetime": r.pickup_datetime.to_pydatetime() + timedelta(minutes=10),
        }
        for i, r in zip(trips.index, trips.itertuples(), strict=True)
    ]
    with engine.begin() as conn:
        table.create(conn)
        conn.execute(table.insert(), rows)
    for day in sorted({r["pickup_datetime"].date() for r in rows}):
        score_day(engine, model, InputSpec(), ServiceDay(day))
    with engine.connect() as conn:
        stored = conn.execute(select(predictions.c.ride_id, predictions.c.predicted_duration))
        return {int(ride_id): minutes for ride_id, minutes in stored}
