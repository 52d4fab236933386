"""``streaming evaluate``: RMSE by hour and zone, and the drift flag."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from streaming.tools.evaluate import evaluate, main
from streaming.training import tlc
from tests.conftest import DATA


def events_for(trips, minutes):
    return [
        {
            "model": "ride_duration_prediction_model",
            "version": "v",
            "prediction": {"ride_duration": float(m), "ride_id": int(i)},
            "source": {"eventID": f"shardId-000000000000:{i}"},
        }
        for i, m in zip(trips.index, minutes, strict=True)
    ]


def test_rmse_matches_a_direct_computation(shipped_model, holdout_trips):
    sample = holdout_trips.sample(n=3000, random_state=4)
    minutes = shipped_model.predictor.predict(tlc.features_of(sample))
    zones = pd.read_csv(DATA / "taxi_zone_lookup.csv").set_index("LocationID")
    report = evaluate(
        events_for(sample, minutes),
        holdout_trips,
        zones=zones,
        reference_rmse=shipped_model.metadata["metrics"]["holdout_rmse"],
    )
    direct = float(np.sqrt(np.mean((minutes - sample["duration"].to_numpy()) ** 2)))
    assert report["rides"] == 3000 and np.isclose(report["rmse"], direct)
    assert sum(h["rides"] for h in report["by_hour"]) == 3000
    assert report["drift"] is False
    assert report["worst_zones"][0]["zone"]  # named from the zone lookup
    assert all(
        a["rmse"] >= b["rmse"]
        for a, b in zip(report["worst_zones"], report["worst_zones"][1:], strict=False)
    )


def test_a_degraded_model_is_flagged_as_drift(shipped_model, holdout_trips):
    sample = holdout_trips.sample(n=2000, random_state=5)
    minutes = shipped_model.predictor.predict(tlc.features_of(sample)) + 6.0
    report = evaluate(
        events_for(sample, minutes),
        holdout_trips,
        reference_rmse=shipped_model.metadata["metrics"]["holdout_rmse"],
    )
    assert report["drift"] is True and report["mean_error"] > 5


def test_cli_reads_tail_jsonl(shipped_model, holdout_trips, tmp_path, capsys):
    sample = holdout_trips.sample(n=500, random_state=6)
    minutes = shipped_model.predictor.predict(tlc.features_of(sample))
    path = tmp_path / "predictions.jsonl"
    with path.open("w") as fh:
        for event in events_for(sample, minutes):
            fh.write(json.dumps({"stream": "ride_predictions", "event": event}) + "\n")
        fh.write(
            json.dumps({"stream": "x", "event": events_for(sample.head(1), [0.0])[0]}) + "\n"
        )  # a duplicate: the first one counts
    assert main(["--predictions", str(path), "--data-dir", str(DATA), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rides"] == 500 and report["drift"] is False


def test_actuals_file_of_the_app(shipped_model, holdout_trips, tmp_path, capsys):
    sample = holdout_trips.sample(n=400, random_state=7)
    minutes = shipped_model.predictor.predict(tlc.features_of(sample))
    ids = [f"app-{i}" for i in range(len(sample))]
    path = tmp_path / "predictions.jsonl"
    path.write_text(
        "\n".join(
            json.dumps({"prediction": {"ride_duration": float(m), "ride_id": i}})
            for i, m in zip(ids, minutes, strict=True)
        )
    )
    actuals = pd.DataFrame(
        {
            "ride_id": ids,
            "PULocationID": sample["PULocationID"].to_numpy(),
            "pickup_datetime": sample["pickup_datetime"].to_numpy(),
            "dropoff_datetime": (
                sample["pickup_datetime"] + pd.to_timedelta(sample["duration"], unit="min")
            ).to_numpy(),
        }
    )
    actuals.to_csv(tmp_path / "actuals.csv", index=False)
    assert (
        main(["--predictions", str(path), "--actuals", str(tmp_path / "actuals.csv"), "--json"])
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    direct = float(np.sqrt(np.mean((minutes - sample["duration"].to_numpy()) ** 2)))
    assert report["rides"] == 400 and np.isclose(report["rmse"], direct, atol=1e-6)
    assert sum(h["rides"] for h in report["by_hour"]) == 400
