"""``streaming score`` on local files: TLC parquet and JSON lines, rejects with reasons."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from streaming.score import main, score
from tests.conftest import DATA


def test_a_tlc_month_in_chunks(shipped_model, tmp_path):
    raw = pd.read_parquet(DATA / "green_tripdata_2021-02.parquet").head(5000)
    raw.loc[3, "trip_distance"] = -1.0  # invalid
    raw.loc[7, "PULocationID"] = None  # missing: the column turns float
    path = tmp_path / "month.parquet"
    raw.to_parquet(path)
    stats = score(
        shipped_model,
        str(path),
        str(tmp_path / "out.parquet"),
        str(tmp_path / "rej.parquet"),
        chunk_rows=1000,
        progress=False,
    )
    assert (stats.rows, stats.predicted, stats.rejected) == (5000, 4998, 2)
    out = pd.read_parquet(tmp_path / "out.parquet")
    rejected = pd.read_parquet(tmp_path / "rej.parquet").set_index("source_row")
    assert set(rejected.index) == {3, 7}
    assert rejected.at[3, "reason"] == "invalid_trip_distance"
    assert rejected.at[7, "reason"] == "invalid_location_id"
    assert (out["model_version"] == shipped_model.version).all()
    # same predictions as the served model on the same features (hour from pickup)
    trips = raw.drop(index=[3, 7])
    x = np.column_stack(
        [
            trips["PULocationID"],
            trips["DOLocationID"],
            trips["trip_distance"],
            trips["lpep_pickup_datetime"].dt.hour,
            trips["lpep_pickup_datetime"].dt.day_of_week,
        ]
    ).astype(float)
    np.testing.assert_array_equal(out["predicted_duration"], shipped_model.predictor.predict(x))
    expected_actual = (
        trips["lpep_dropoff_datetime"] - trips["lpep_pickup_datetime"]
    ).dt.total_seconds() / 60
    np.testing.assert_allclose(out["actual_duration"], expected_actual)
    assert out["ride_id"].tolist() == [str(i) for i in trips.index]


def test_json_lines_with_bad_lines(shipped_model, tmp_path, capsys):
    lines = [
        json.dumps(
            {
                "ride": {
                    "PULocationID": 74,
                    "DOLocationID": 75,
                    "trip_distance": 2.5,
                    "pickup_datetime": "2023-02-01T08:00:00",
                },
                "ride_id": f"r{i}",
            }
        )
        for i in range(10)
    ]
    lines[4] = "not json"
    lines[6] = json.dumps(
        {"ride": {"PULocationID": True, "DOLocationID": 1, "trip_distance": 1}, "ride_id": 1}
    )
    path = tmp_path / "rides.jsonl"
    path.write_text("\n".join(lines) + "\n\n")
    assert main(["--input", str(path), "--output", str(tmp_path / "o.parquet"), "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] == 10 and summary["rejected"] == 2
    rejected = pq.read_table(tmp_path / "o.rejected.parquet").to_pylist()
    assert [(r["source_row"], r["reason"]) for r in rejected] == [
        (4, "invalid_json"),
        (6, "invalid_location_id"),
    ]
    assert rejected[0]["record"] == "not json"
    out = pd.read_parquet(tmp_path / "o.parquet")
    assert out["ride_id"].tolist() == [f"r{i}" for i in range(10) if i not in (4, 6)]
    assert pa.types.is_float64(
        pq.read_schema(tmp_path / "o.parquet").field("predicted_duration").type
    )
