"""``streaming send / run / tail`` as separate processes against the emulator."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from collections import Counter

import pytest

from streaming.tools.stream_io import read_all
from tests.conftest import REPO
from tests.support.anywhere import run_anywhere
from tests.support.cli import STREAMING, cli, cli_summary

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def env(moto_endpoint):
    tag = uuid.uuid4().hex[:8]
    full = dict(os.environ)
    for var in ("MODEL_LOCATION", "TEST_RUN", "RUN_ID", "MODEL_VERSION"):
        full.pop(var, None)
    full.update(
        {
            "KINESIS_ENDPOINT_URL": moto_endpoint,
            "PREDICTIONS_STREAM_NAME": f"pred-{tag}",
            "DEAD_LETTER_STREAM_NAME": f"dlq-{tag}",
            "INPUT_STREAM": f"in-{tag}",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
        }
    )
    return full


def test_send_plays_real_rides_with_their_pickup_time(kinesis, env, new_stream):
    new_stream(env["INPUT_STREAM"], 2)
    summary = cli_summary(
        "send", "--stream", env["INPUT_STREAM"], "--count", "120", "--rate", "400", env=env
    )
    assert summary["sent"] == 120 and summary["failed"] == 0
    assert summary["seconds"] >= 0.2  # 120 records at 400/s take ~0.3 s
    events = [json.loads(r["Data"]) for _, r in read_all(kinesis, env["INPUT_STREAM"])]
    assert len(events) == 120
    for e in events:
        assert set(e["ride"]) == {
            "PULocationID",
            "DOLocationID",
            "trip_distance",
            "pickup_datetime",
        }
        assert e["ride"]["pickup_datetime"].startswith("2023-02")


def test_send_finds_the_month_from_any_directory(kinesis, env, new_stream, tmp_path):
    """The installed script, run from a directory that is not the project's: --month is
    read from the project's data/, and each ride_id is the trip's row in the month's file."""
    from streaming.training import tlc
    from tests.conftest import DATA

    new_stream(env["INPUT_STREAM"], 1)
    proc = run_anywhere(
        "send", "--stream", env["INPUT_STREAM"], "--month", "2023-02", "--count", "50",
        cwd=tmp_path, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1])["sent"] == 50
    trips, _ = tlc.load_trips(tlc.month_path(DATA, "2023-02"))
    for _, record in read_all(kinesis, env["INPUT_STREAM"]):
        event = json.loads(record["Data"])
        trip = trips.loc[event["ride_id"]]
        assert event["ride"]["PULocationID"] == trip["PULocationID"]
        assert event["ride"]["pickup_datetime"] == trip["pickup_datetime"].isoformat()


def test_killed_runner_resumes_and_every_prediction_arrives(
    kinesis, env, tmp_path, capsys, new_stream
):
    new_stream(env["INPUT_STREAM"], 2)
    new_stream(env["PREDICTIONS_STREAM_NAME"], 2)
    new_stream(env["DEAD_LETTER_STREAM_NAME"], 1)
    sent = cli("send", "--stream", env["INPUT_STREAM"], "--count", "3000", env=env)
    assert sent.returncode == 0, sent.stderr
    checkpoint = tmp_path / "checkpoints.json"
    run_args = [
        "run",
        "--stream",
        env["INPUT_STREAM"],
        "--batch-size",
        "50",
        "--checkpoint-file",
        str(checkpoint),
        "--log-file",
        str(tmp_path / "run.log"),
        "--poll-interval",
        "0.1",
    ]
    # first run: a handler that pauses after publishing, so the kill lands mid-batch
    slow = [*run_args, "--handler", "tests.support.slow_handler.handler"]
    mark = tmp_path / "published"
    runner = subprocess.Popen(
        [*STREAMING, *slow],
        cwd=REPO,
        env=dict(env, SLOW_HANDLER_MARK=str(mark)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until 10 batches are published...
            if mark.exists() and len(mark.read_text().splitlines()) >= 10:
                break
            time.sleep(0.01)
        runner.send_signal(signal.SIGKILL)  # ...and the 10th is not checkpointed yet
    finally:
        runner.wait(timeout=30)
    before = len(read_all(kinesis, env["PREDICTIONS_STREAM_NAME"]))
    assert 0 < before < 3000, "the kill must land mid-stream"

    again = cli(*run_args, "--stop-when-idle", "1.5", env=env)
    assert again.returncode == 0, again.stderr
    outputs = [json.loads(r["Data"]) for _, r in read_all(kinesis, env["PREDICTIONS_STREAM_NAME"])]
    by_source = Counter(o["source"]["eventID"] for o in outputs)
    rides = {o["prediction"]["ride_id"] for o in outputs}
    duplicated = {s for s, n in by_source.items() if n > 1}
    tally = {
        "sent": 3000,
        "predicted": len(rides),
        "dead_lettered": 0,
        "duplicated": sum(n - 1 for n in by_source.values()),
        "lost": 3000 - len(rides),
    }
    with capsys.disabled():
        print("\n[SIGKILL + restart] tally: " + ", ".join(f"{k}={v}" for k, v in tally.items()))
    assert tally["lost"] == 0 and len(by_source) == 3000  # every prediction is there
    # Duplicates come only from the batch in flight at the kill: one shard, at most one
    # batch, a contiguous run of its sequence numbers; each with its source key.
    assert 0 < tally["duplicated"] <= 50
    if duplicated:
        shards = {s.split(":")[0] for s in duplicated}
        assert len(shards) == 1
        [shard] = shards
        seqs = sorted(int(s.split(":")[1]) for s in by_source if s.startswith(shard))
        dup = sorted(int(s.split(":")[1]) for s in duplicated)
        first = seqs.index(dup[0])
        assert seqs[first : first + len(dup)] == dup


def test_tail_prints_predictions_and_dead_letters(kinesis, env, new_stream):
    pred, dlq = env["PREDICTIONS_STREAM_NAME"], env["DEAD_LETTER_STREAM_NAME"]
    new_stream(pred, 2)
    new_stream(dlq, 1)
    event = {
        "model": "ride_duration_prediction_model",
        "version": "v",
        "prediction": {"ride_duration": 12.5, "ride_id": 7},
        "source": {"eventID": "shardId-000000000000:1"},
    }
    kinesis.put_record(StreamName=pred, Data=json.dumps(event).encode(), PartitionKey="7")
    kinesis.put_record(
        StreamName=dlq,
        PartitionKey="x",
        Data=json.dumps({"reason": "invalid_json", "detail": "data is not JSON"}).encode(),
    )
    proc = cli(
        "tail",
        "--stream",
        pred,
        "--dead-letters",
        dlq,
        "--from",
        "TRIM_HORIZON",
        "--count",
        "2",
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert any("ride 7: 12.5 min" in line for line in lines)
    assert any("DEAD LETTER invalid_json" in line for line in lines)
    jsonl = cli(
        "tail", "--stream", pred, "--from", "TRIM_HORIZON", "--jsonl", "--idle-exit", "1", env=env
    )
    [line] = jsonl.stdout.strip().splitlines()
    assert json.loads(line)["event"] == event


def test_tail_counts_what_it_wrote_and_a_timestamp_means_at_timestamp(
    kinesis, env, new_stream, tmp_path
):
    pred = new_stream(env["PREDICTIONS_STREAM_NAME"], 1)
    for i in range(3):
        kinesis.put_record(StreamName=pred, PartitionKey=str(i), Data=json.dumps({"n": i}).encode())
    out = tmp_path / "p.jsonl"
    # --timestamp alone reads from that time (AT_TIMESTAMP), not from LATEST
    proc = cli(
        "tail", "--stream", pred, "--timestamp", "2000-01-01", "--jsonl", str(out),
        "--idle-exit", "1", env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line)["event"]["n"] for line in out.read_text().splitlines()] == [0, 1, 2]
    assert proc.stderr.strip().splitlines()[-1] == f"streaming tail: 3 events from {pred} -> {out}"


def test_send_plays_each_rides_finished_event_after_its_started_one(kinesis, env, new_stream):
    """--finished-stream: each TLC ride's ride_finished event, with its real duration,
    arrives after its started event, about duration x --time-scale (0.1 s/min) later."""
    from streaming.training import tlc
    from tests.conftest import DATA
    from tests.schemas import assert_valid

    rides = new_stream(env["INPUT_STREAM"], 2)
    done = new_stream(f"fin-{uuid.uuid4().hex[:8]}", 2)
    summary = cli_summary(
        "send", "--stream", rides, "--count", "30", "--rate", "50", "--finished-stream", done,
        env=env,
    )  # fmt: skip
    assert (summary["sent"], summary["failed"]) == (30, 0)
    assert (summary["finished_sent"], summary["finished_failed"]) == (30, 0)

    def arrivals(stream):
        return {
            (e := json.loads(r["Data"]))["ride_id"]: (e, r["ApproximateArrivalTimestamp"])
            for _, r in read_all(kinesis, stream)
        }

    started, finished = arrivals(rides), arrivals(done)
    assert len(started) == len(finished) == 30  # one of each per ride, none twice
    assert set(finished) == set(started)  # each finished event ends a ride that started
    trips, _ = tlc.load_trips(tlc.month_path(DATA, "2023-02"))
    for ride_id, (event, arrived) in finished.items():
        assert_valid("ride_finished", event)
        start, start_arrived = started[ride_id]
        assert event["duration_minutes"] == trips.loc[ride_id, "duration"]
        assert event["pickup_datetime"] == start["ride"]["pickup_datetime"]
        # the schedule: sent duration x 0.1 s after its started event went out
        gap = (arrived - start_arrived).total_seconds()
        assert gap > 0, (ride_id, gap)
        assert event["duration_minutes"] * 0.1 - 0.05 <= gap <= event["duration_minutes"] * 0.1 + 1
    longest = max(e["duration_minutes"] for e, _ in finished.values())
    assert summary["seconds"] >= longest * 0.1  # the send ran until the last ride finished
