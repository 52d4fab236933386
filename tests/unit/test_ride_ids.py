"""One rule for a TLC trip's ride id in every tool: its row in the month's file."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq

from streaming.serving.score import score
from streaming.tools.produce import tlc_rides
from streaming.training import tlc
from tests.conftest import DATA


def test_send_evaluate_and_score_name_a_trip_alike(shipped_model, tmp_path):
    raw = pq.read_table(tlc.month_path(DATA, "2023-02")).slice(0, 400)
    month = tmp_path / "green_tripdata_2023-02.parquet"
    pq.write_table(raw, month)
    trips, stats = tlc.load_trips(month)
    assert stats.rows_clean < stats.rows_raw  # cleaning dropped rows: ids must not shift
    assert trips.index.name == "ride_id"

    # send (and make run) play events whose ride_id is the trip's row in the file
    sent = {e["ride_id"]: e["ride"] for e in tlc_rides(month, count=10_000)}
    assert set(sent) == set(trips.index)
    frame = raw.to_pandas()
    for ride_id, ride in sent.items():
        assert ride["PULocationID"] == frame.loc[ride_id, "PULocationID"]
        assert ride["trip_distance"] == frame.loc[ride_id, "trip_distance"]

    # score names each row of the same file by the same number
    score(
        shipped_model,
        str(month),
        str(tmp_path / "scored.parquet"),
        str(tmp_path / "rejected.parquet"),
        progress=False,
    )
    scored = pd.read_parquet(tmp_path / "scored.parquet").set_index("ride_id")
    for ride_id, ride in sent.items():
        row = scored.loc[str(ride_id)]
        assert (row["PULocationID"], row["trip_distance"]) == (
            ride["PULocationID"],
            ride["trip_distance"],
        )
