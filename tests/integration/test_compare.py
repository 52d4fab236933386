"""``streaming evaluate --compare`` on real rides: a known better model against a weaker one.

The better model is the shipped one. The weaker one is a real model too, trained
here with the project's training code on a small sample, with 10 trees and no
time features - not the shipped model's answers made worse, which would test
the arithmetic rather than the decision. Both score every ride of the unseen
month (2023-02) and their predictions are written as the consumer writes them:
prediction events, the same ``source`` for the same ride. The truth is the TLC
month, then ride_finished events on a stream.
"""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pytest

from streaming.tools.evaluate import main
from streaming.training import tlc
from tests.conftest import DATA
from tests.support.streams import put

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WEAK_TREES = 10


@pytest.fixture(scope="module")
def weak_model():
    """10 trees, no pickup hour or weekday, fit on 20,000 rides of 2021-01: weaker by
    construction, exported to tree tables like the shipped model."""
    from streaming.training.export import export_tree_tables
    from streaming.training.train import Candidate, fit_candidate

    trips, _ = tlc.load_trips(tlc.month_path(DATA, "2021-01"))
    sample = trips.sample(n=20_000, random_state=0)
    x = without_time(tlc.features_of(sample))
    cand = Candidate(max_iter=WEAK_TREES, learning_rate=0.1, max_leaf_nodes=15)
    fitted = fit_candidate(x, sample["duration"].to_numpy(), cand, progress=False)
    return export_tree_tables(fitted.hgb, fitted.zones)


def without_time(x: np.ndarray) -> np.ndarray:
    """The feature matrix with the pickup hour and weekday blanked (a constant)."""
    out = x.copy()
    out[:, 3:] = 0.0
    return out


@pytest.fixture(scope="module")
def minutes(shipped_model, weak_model, holdout_trips):
    """Each model's predictions for every ride of 2023-02, in the trips' order."""
    x = tlc.features_of(holdout_trips)
    return {
        "shipped": shipped_model.predictor.predict(x),
        "weak": weak_model.predict(without_time(x)),
    }


def prediction_events(trips, minutes, version):
    """As the consumer publishes them: one per ride, ``source`` = the ride's input record."""
    return [
        {
            "model": "ride_duration_prediction_model",
            "version": version,
            "prediction": {"ride_duration": float(m), "ride_id": int(ride_id)},
            "source": {"eventID": f"shardId-000000000000:{seq:056d}"},
        }
        for seq, (ride_id, m) in enumerate(zip(trips.index, minutes, strict=True))
    ]


@pytest.fixture(scope="module")
def files(tmp_path_factory, holdout_trips, minutes):
    folder = tmp_path_factory.mktemp("compare")
    out = {}
    for name, version in (("shipped", "shipped"), ("weak", f"hgb-{WEAK_TREES}-no-time")):
        path = folder / f"{name}.jsonl"
        with path.open("w") as fh:
            for event in prediction_events(holdout_trips, minutes[name], version):
                fh.write(json.dumps(event) + "\n")
        out[name] = str(path)
    return out


def run(capsys, *argv):
    assert main(["--data-dir", str(DATA), "--compare", *argv]) == 0
    return capsys.readouterr().out


def rmse(predicted, actual):
    return float(np.sqrt(np.mean((predicted - actual) ** 2)))


def test_the_better_model_as_shadow_is_promoted(files, minutes, holdout_trips, capsys):
    out = run(capsys, "--predictions", files["weak"], "--shadow", files["shipped"], "--json")
    report = json.loads(out)
    actual = holdout_trips["duration"].to_numpy()
    assert report["verdict"] == "promote", report["reason"]
    assert report["rides"]["compared"] == len(holdout_trips)
    assert report["rides"]["paired_by_source"] == len(holdout_trips)
    overall = report["overall"]
    assert np.isclose(overall["champion"]["rmse"], rmse(minutes["weak"], actual))
    assert np.isclose(overall["shadow"]["rmse"], rmse(minutes["shipped"], actual))
    low, high = overall["rmse_difference"]["ci95"]
    assert low <= overall["rmse_difference"]["estimate"] <= high < 0
    assert overall["relative_improvement"] > 0.01
    assert sum(h["rides"] for h in report["by_hour"]) == len(holdout_trips)
    groups = {g["zone_group"]: g["rides"] for g in report["by_zone_group"]}
    assert groups["Manhattan"] > 0 and groups["outer boroughs"] > 0
    assert sum(groups.values()) == len(holdout_trips)


def test_the_text_report_says_the_verdict_and_the_rule(files, capsys):
    out = run(capsys, "--predictions", files["weak"], "--shadow", files["shipped"])
    print(out)  # shown with -s: the example in the report
    assert "verdict: PROMOTE - the shadow is better" in out
    assert "rule: not enough rides yet until 1,000 rides" in out
    assert "by pickup hour" in out and "by pickup zone group" in out and "(minutes)" in out


def test_the_weaker_model_as_shadow_is_kept(files, capsys):
    out = run(capsys, "--predictions", files["shipped"], "--shadow", files["weak"], "--json")
    report = json.loads(out)
    assert report["verdict"] == "keep"
    assert "worse" in report["reason"]
    assert report["overall"]["rmse_difference"]["ci95"][0] > 0


def test_the_shipped_model_against_itself_is_kept(files, capsys):
    out = run(capsys, "--predictions", files["shipped"], "--shadow", files["shipped"], "--json")
    report = json.loads(out)
    assert report["verdict"] == "keep"
    assert report["overall"]["rmse_difference"]["ci95"] == [0.0, 0.0]
    assert report["overall"]["squared_error_difference"]["p"] == 1.0


def finished_events(trips):
    """The backend's ride_finished events: pickup and drop-off in New York time."""
    return [
        {
            "event": "ride_finished",
            "version": 1,
            "ride_id": int(ride_id),
            "pickup_datetime": pickup.isoformat(),
            "dropoff_datetime": (pickup + timedelta(minutes=float(duration))).isoformat(),
            "PULocationID": int(zone),
        }
        for ride_id, pickup, duration, zone in zip(
            trips.index,
            trips["pickup_datetime"],
            trips["duration"],
            trips["PULocationID"],
            strict=True,
        )
    ]


def test_through_kinesis(kinesis, new_stream, moto_endpoint, holdout_trips, minutes, capsys):
    """Predictions, shadow predictions and finished rides each on their own stream, with
    what streams do: a prediction delivered twice, a shadow record replayed under a new
    source, rides not finished yet, a finished event that is not one."""
    n, finished_n = 1_500, 1_400
    sample = holdout_trips.iloc[:n]
    champion = prediction_events(sample, minutes["weak"][:n], "weak")
    shadow = prediction_events(sample, minutes["shipped"][:n], "shipped")
    replayed = {**shadow[0], "source": {"eventID": "shardId-000000000001:" + "9" * 56}}
    finished = finished_events(sample.iloc[:finished_n])
    streams = {name: new_stream(shards=2) for name in ("champion", "shadow", "finished")}
    for name, events in (
        ("champion", [*champion, champion[5]]),
        ("shadow", [*shadow, replayed]),
        ("finished", finished),
    ):
        payloads = [json.dumps(e).encode() for e in events]
        put(kinesis, streams[name], payloads)
    put(kinesis, streams["finished"], [b"not json", b'{"event": "ride_finished"}'])

    out = run(
        capsys,
        "--stream",
        streams["champion"],
        "--shadow-stream",
        streams["shadow"],
        "--finished-stream",
        streams["finished"],
        "--endpoint-url",
        moto_endpoint,
        "--json",
    )
    report = json.loads(out)
    assert report["verdict"] == "promote", report["reason"]
    assert report["champion"]["left_out"] == {"duplicate_source": 1}
    assert report["shadow"]["left_out"] == {"duplicate_ride": 1}
    assert report["rides"]["scored_by_both"] == n
    assert report["rides"]["not_finished"] == n - finished_n
    assert report["rides"]["compared"] == finished_n
    assert report["actuals"]["events"]["not_json"] == 1
    assert report["actuals"]["events"]["bad_ride_id"] == 1
    actual = sample["duration"].to_numpy()[:finished_n]
    shadow_rmse = rmse(minutes["shipped"][:finished_n], actual)
    assert np.isclose(report["overall"]["shadow"]["rmse"], shadow_rmse)
    hours = {h["hour"]: h["rides"] for h in report["by_hour"]}
    expected = sample.iloc[:finished_n]["pickup_hour"].value_counts().to_dict()
    assert hours == {int(h): int(c) for h, c in expected.items()}
