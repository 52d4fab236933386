"""Every documented command is a test: the bash blocks of README.md and docs/runbook.md
run as written, in order, against the emulator (moto here, LocalStack in its suite),
and the outputs the README shows are what the commands print.

The blocks run in a sandbox directory that holds the repository's files (symlinked),
so relative paths (`.venv/bin/streaming`, `data/...`) work and what a command writes
stays out of the repository. The environment points every AWS client at the
emulator (`AWS_ENDPOINT_URL`, `KINESIS_ENDPOINT_URL`) with test credentials: that is
the one thing a reader on a laptop does differently (tests/support/docs.py gives the
marker rules).
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest

from streaming.consumer.config import Settings
from streaming.consumer.handler import RideDurationService
from streaming.consumer.kinesis_client import make_kinesis_client
from streaming.tools.stream_io import create_stream
from streaming.training import tlc
from tests.conftest import REPO
from tests.support.docs import DOCS, find_in_output, outputs, shell_blocks
from tests.support.models import shipped_model_as

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RUNNABLE = [b for doc in DOCS for b in shell_blocks(doc) if b.skip_reason is None]
STREAMS = {
    # README: the local names; runbook: a deployed stage's names ("prod")
    "ride_events": 2,
    "ride_predictions": 2,
    "ride_dead_letters": 1,
    "ride_events-prod": 1,
    "ride_predictions-prod": 1,
    "ride_dead_letters-prod": 1,
    "ride_shadow_predictions-prod": 1,
    "ride_finished-prod": 1,
}
#: the user's transform module the runbook's replay names (fixes:distance_as_number)
FIXES = """
import json


def distance_as_number(data, letter):
    event = json.loads(data)
    event["ride"]["trip_distance"] = float(event["ride"]["trip_distance"])
    return json.dumps(event).encode()
"""


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory, moto_endpoint, holdout_trips):
    """A directory that looks like the repository, and an emulator with the streams,
    bucket, dead letters and predictions the documented commands expect to find."""
    root = tmp_path_factory.mktemp("docs")
    for entry in REPO.iterdir():
        if entry.name not in {".git", "build", "dist", ".pytest_cache", ".hypothesis"}:
            (root / entry.name).symlink_to(entry)
    (root / "fixes.py").write_text(FIXES)
    kinesis = make_kinesis_client(moto_endpoint)
    for name, shards in STREAMS.items():
        try:
            create_stream(kinesis, name, shards)
        except Exception as exc:  # left by an earlier run against the same emulator
            if "ResourceInUse" not in type(exc).__name__ + str(exc):
                raise
    env = {
        "PATH": f"{REPO / '.venv' / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(root),
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": moto_endpoint,
        "KINESIS_ENDPOINT_URL": moto_endpoint,
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    _s3_rides(moto_endpoint, holdout_trips)
    _runbook_state(moto_endpoint, holdout_trips, root)
    return root, env


def _s3_rides(endpoint: str, trips) -> None:
    """s3://bucket/rides.jsonl, which the README's S3 scoring example reads."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint)
    try:
        s3.create_bucket(Bucket="bucket")
    except Exception as exc:
        if "BucketAlready" not in type(exc).__name__ + str(exc):
            raise
    lines = [json.dumps(e) for e in tlc.ride_events(trips.head(200))]
    s3.put_object(Bucket="bucket", Key="rides.jsonl", Body="\n".join(lines).encode())


def _runbook_state(endpoint: str, trips, root: Path) -> None:
    """What a deployed stage holds when the runbook is followed: dead letters of rides
    whose distance came as a string, predictions, and an export of finished rides."""
    sample = trips.head(300)
    service = RideDurationService(
        _model(),
        Settings(
            predictions_stream="ride_predictions-prod",
            dead_letter_stream="ride_dead_letters-prod",
            kinesis_endpoint_url=endpoint,
        ),
        shadow=_shadow(root),
    )
    records = []
    for i, event in enumerate(tlc.ride_events(sample)):
        if i % 50 == 0:
            event["ride"]["trip_distance"] = str(event["ride"]["trip_distance"])
        records.append(_record(event, i))
    response = service.handle({"Records": records})
    assert response["batchItemFailures"] == []
    finished = sample.reset_index()[["ride_id", "duration", "PULocationID"]]
    finished.to_parquet(root / "finished_rides.parquet")
    _finished_stream(endpoint, sample)


def _shadow(root: Path):
    """The runbook's shadow: the shipped model under another version, to its stream."""
    from streaming.consumer.shadow import Shadow
    from streaming.model import load_model

    directory = shipped_model_as(root / "challenger-model", "challenger")
    model = load_model(directory)
    return Shadow(model, "ride_shadow_predictions-prod", 100.0, model.version)


def _finished_stream(endpoint: str, sample) -> None:
    """The backend's ride-finished stream, as ``streaming send --finished-stream`` fills it."""
    from streaming.consumer.kinesis_sender import kinesis_sender
    from streaming.consumer.publish import Entry, publish
    from streaming.tools.finished import finished_events

    entries = [
        Entry(json.dumps(e).encode(), str(e["ride_id"]), i)
        for i, e in enumerate(finished_events(sample))
    ]
    sender = kinesis_sender(make_kinesis_client(endpoint))
    assert publish(sender, "ride_finished-prod", entries).failed == []


def _model():
    from streaming.model import load_model

    return load_model(REPO / "models")


def _record(event: dict, i: int) -> dict:
    return {
        "kinesis": {
            "partitionKey": str(event["ride_id"]),
            "sequenceNumber": f"{i + 1:056d}",
            "data": base64.b64encode(json.dumps(event).encode()).decode(),
            "approximateArrivalTimestamp": 1_764_200_000.0,
        },
        "eventID": f"shardId-000000000000:{i + 1:056d}",
        "eventSourceARN": "arn:aws:kinesis:us-east-1:000000000000:stream/ride_events-prod",
    }


def _bash(script: str, root: Path, env: dict[str, str], timeout: float = 900):
    # Background jobs a block starts (a server) are stopped with the block.
    wrapped = "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\nset -euo pipefail\n" + script
    return subprocess.run(
        ["bash", "-c", wrapped],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


#: command -> what it printed, when a block ran exactly that command (not run twice)
PRINTED: dict[str, str] = {}


def _key(script: str) -> str:
    """A script without comments and spacing, to match a block with an output's command."""
    lines = [line.split(" #", 1)[0].strip() for line in script.splitlines()]
    return "\n".join(" ".join(line.split()) for line in lines if line and line[0] != "#")


@pytest.mark.parametrize("block", RUNNABLE, ids=[b.id for b in RUNNABLE])
def test_the_documented_commands_run_as_written(block, sandbox):
    root, env = sandbox
    proc = _bash(block.script(), root, env)
    PRINTED[_key(block.script())] = proc.stdout
    assert proc.returncode == 0, (
        f"{block.id} failed ({proc.returncode}):\n{block.script()}\n"
        f"--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}"
    )


OUTPUTS = [o for doc in DOCS for o in outputs(doc)]


@pytest.mark.parametrize("shown", OUTPUTS, ids=[o.id for o in OUTPUTS])
def test_the_outputs_shown_are_what_the_commands_print(shown, sandbox):
    root, env = sandbox
    printed = PRINTED.get(_key(shown.command))
    if printed is None:
        proc = _bash(shown.command, root, env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        printed = proc.stdout
    problem = find_in_output(shown.expected, printed)
    assert problem is None, (
        f"{shown.id}: {shown.command!r} printed something else: {problem}\n{printed[-3000:]}"
    )
