"""``streaming run`` as a user runs it, against the emulator (moto, or LocalStack in its suite):
where the handler publishes, what is printed, checkpoints of a recreated stream, and
which handler is imported from where."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.support.anywhere import emulator_env, run_anywhere
from tests.support.cli import cli
from tests.support.rides import ride_bytes
from tests.support.streams import put, read_json

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: one line per batch: shard, records, predicted/rejected/failed, latency
BATCH_LINE = re.compile(
    r"^(shardId-\d+)  (\d+) records  (\d+) predicted, (\d+) rejected, (\d+) failed  [\d.]+ ms$"
)


def summary(stdout: str) -> dict:
    """The runner's figures: the last line ``run`` prints."""
    return json.loads(stdout.strip().splitlines()[-1])["runner"]


def test_run_env(endpoint: str, **extra: str) -> dict[str, str]:
    """The emulator's environment, and the handler told not to publish (TEST_RUN)."""
    env = emulator_env(endpoint)
    for var in ("MODEL_LOCATION", "RUN_ID", "MODEL_VERSION", "DEAD_LETTER_STREAM_NAME"):
        env.pop(var, None)
    env.update({"TEST_RUN": "True", **extra})
    return env


test_run_env.__test__ = False  # a helper, not a test


@contextlib.contextmanager
def trap():
    """A listening socket nothing should ever connect to; yields (url, connections made)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    host, port = sock.getsockname()

    def connections() -> int:
        count = 0
        while True:
            try:
                conn, _ = sock.accept()
            except BlockingIOError:
                return count
            conn.close()
            count += 1

    try:
        yield f"http://{host}:{port}", connections
    finally:
        sock.close()


def test_a_local_run_publishes_to_the_emulator_and_never_to_aws(
    kinesis, streams, moto_endpoint, tmp_path
):
    """Issue 11, broken 1: the endpoint and region given to ``run`` reach the handler.

    Every AWS endpoint boto3 could fall back on (AWS_ENDPOINT_URL, _KINESIS) points at
    a trap, no region is in the environment: only ``--endpoint-url``/``--region``
    say where to go, and everything must arrive in the emulator."""
    rides = [ride_bytes(i, distance=2.0) for i in range(40)]
    put(kinesis, streams["input"], [*rides, b"not json", b"{}"])
    with trap() as (url, connections):
        env = dict(os.environ)
        for var in ("KINESIS_ENDPOINT_URL", "AWS_REGION", "AWS_DEFAULT_REGION", "TEST_RUN"):
            env.pop(var, None)
        env.update(
            {
                "AWS_ENDPOINT_URL": url,
                "AWS_ENDPOINT_URL_KINESIS": url,
                "PREDICTIONS_STREAM_NAME": streams["predictions"],
                "DEAD_LETTER_STREAM_NAME": streams["dead_letters"],
            }
        )
        proc = cli(
            "run",
            "--stream",
            streams["input"],
            "--endpoint-url",
            moto_endpoint,
            "--region",
            "us-east-1",
            "--stop-when-idle",
            "1.5",
            "--poll-interval",
            "0.1",
            "--checkpoint-file",
            str(tmp_path / "checkpoints.json"),
            "--log-file",
            str(tmp_path / "run.log"),
            "--max-retries",  # if the handler went elsewhere: fail, do not retry forever
            "0",
            "--timeout",
            "10",
            env=env,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        assert connections() == 0  # nothing went to the fallback endpoints
    assert f"the handler publishes to {moto_endpoint} (region us-east-1)" in proc.stdout
    assert f"predictions -> {streams['predictions']}" in proc.stdout
    predicted = sorted(
        e["prediction"]["ride_id"] for _, e in read_json(kinesis, streams["predictions"])
    )
    assert predicted == list(range(40))
    assert len(read_json(kinesis, streams["dead_letters"])) == 2
    assert summary(proc.stdout)["records_done"] == 42


def test_each_batch_is_one_line_and_the_handler_logs_go_to_a_file(
    kinesis, new_stream, moto_endpoint, tmp_path
):
    stream = new_stream(shards=2)
    put(kinesis, stream, [*(ride_bytes(i) for i in range(30)), b"not json"])
    log = tmp_path / "handler.log"
    args = ["run", "--stream", stream, "--stop-when-idle", "1", "--poll-interval", "0.1"]
    args += ["--batch-size", "10", "--log-file", str(log)]
    env = test_run_env(moto_endpoint)

    proc = cli(*args, "--checkpoint-file", str(tmp_path / "a.json"), env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    batches = [m.groups() for m in map(BATCH_LINE.match, lines) if m]
    assert sum(int(b[1]) for b in batches) == 31  # every record, in batches of <= 10
    assert all(int(b[1]) <= 10 for b in batches)
    assert sum(int(b[2]) for b in batches) == 30 and sum(int(b[3]) for b in batches) == 1
    assert {b[0] for b in batches} <= {"shardId-000000000000", "shardId-000000000001"}
    assert not any(line.startswith("{") for line in lines[:-1])  # no JSON log or EMF blob
    assert f"handler logs and metrics -> {log}" in proc.stdout
    text = log.read_text()
    assert '"batch processed"' in text and '"_aws"' in text  # the JSON logs and EMF metrics

    verbose = cli(*args, "--checkpoint-file", str(tmp_path / "b.json"), "-v", env=env)
    assert verbose.returncode == 0, verbose.stderr
    assert '"batch processed"' in verbose.stderr  # -v shows them
    assert '"batch processed"' not in verbose.stdout


def test_a_recreated_stream_is_read_from_its_start(kinesis, new_stream, moto_endpoint, tmp_path):
    """Issue 11, broken 4: a stream deleted and created again (same name, same ARN) is
    not skipped on the strength of the old stream's checkpoints."""
    name = f"recreated-{uuid.uuid4().hex[:8]}"
    new_stream(name, 1)
    put(kinesis, name, [ride_bytes(i) for i in range(5)])
    args = ["run", "--stream", name, "--stop-when-idle", "1", "--poll-interval", "0.1"]
    args += ["--checkpoint-file", str(tmp_path / "checkpoints.json")]
    args += ["--log-file", str(tmp_path / "run.log")]
    env = test_run_env(moto_endpoint)

    first = cli(*args, env=env)
    assert first.returncode == 0, first.stderr
    assert "shardId-000000000000: no checkpoint, starts from TRIM_HORIZON" in first.stdout
    assert summary(first.stdout)["records_done"] == 5
    again = cli(*args, env=env)
    assert "shardId-000000000000: resumes after checkpoint" in again.stdout
    assert summary(again.stdout)["records_done"] == 0

    kinesis.delete_stream(StreamName=name)
    kinesis.get_waiter("stream_not_exists").wait(
        StreamName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    time.sleep(1.1)  # a creation time to the second must differ too
    new_stream(name, 1)
    put(kinesis, name, [ride_bytes(i) for i in range(3)])
    recreated = cli(*args, env=env)
    assert recreated.returncode == 0, recreated.stderr
    [warning] = recreated.stderr.strip().splitlines()
    assert "earlier stream with this name" in warning and "starts from TRIM_HORIZON" in warning
    assert "shardId-000000000000: no checkpoint, starts from TRIM_HORIZON" in recreated.stdout
    assert summary(recreated.stdout)["records_done"] == 3


def test_checkpoints_of_the_first_format_are_ignored_with_a_warning(
    kinesis, new_stream, moto_endpoint, tmp_path
):
    stream = new_stream(shards=1)
    arn = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"][
        "StreamARN"
    ]
    put(kinesis, stream, [ride_bytes(i) for i in range(4)])
    path = tmp_path / "checkpoints.json"
    old = {"shardId-000000000000": {"sequenceNumber": "2494", "finished": False}}
    path.write_text(json.dumps({"streams": {arn: old}}))
    proc = cli(
        "run",
        "--stream",
        stream,
        "--stop-when-idle",
        "1",
        "--checkpoint-file",
        str(path),
        "--log-file",
        str(tmp_path / "run.log"),
        env=test_run_env(moto_endpoint),
    )
    assert proc.returncode == 0, proc.stderr
    [warning] = proc.stderr.strip().splitlines()
    assert "first format" in warning and "ignored" in warning
    assert summary(proc.stdout)["records_done"] == 4
    saved = json.loads(path.read_text())
    assert saved["version"] == 2 and "created" in saved["streams"][arn]


DECOY = 'raise RuntimeError("the decoy lambda_function.py in the current directory")\n'
RECORDER = """\
import json, os

def handle(event, context):
    with open(os.environ["RECORDED"], "a") as out:
        out.write(json.dumps(len(event["Records"])) + "\\n")
"""


def test_the_default_handler_comes_from_the_project_and_a_custom_one_from_the_cwd(
    kinesis, new_stream, moto_endpoint, tmp_path
):
    """Issue 11, broken 2: ``run`` works from any directory with the project's handler;
    ``--handler`` is resolved from the current directory, as Lambda's task root."""
    stream = new_stream(shards=1)
    put(kinesis, stream, [ride_bytes(i) for i in range(6)])
    (tmp_path / "lambda_function.py").write_text(DECOY)
    (tmp_path / "recorder.py").write_text(RECORDER)
    recorded = tmp_path / "recorded.jsonl"
    env = test_run_env(moto_endpoint, RECORDED=str(recorded))
    args = ["run", "--stream", stream, "--stop-when-idle", "1", "--poll-interval", "0.1"]

    default = run_anywhere(*args, "--checkpoint-file", "a.json", cwd=tmp_path, env=env)
    assert default.returncode == 0, default.stderr
    project_file = str(REPO / "lambda_function.py")
    assert f"handler lambda_function.lambda_handler from {project_file}" in default.stdout
    assert summary(default.stdout)["records_done"] == 6
    assert (tmp_path / ".runs").is_dir()  # the run's state is kept in the current directory

    custom = run_anywhere(
        *args, "--checkpoint-file", "b.json", "--handler", "recorder:handle", cwd=tmp_path, env=env
    )
    assert custom.returncode == 0, custom.stderr
    assert f"handler recorder:handle from {tmp_path / 'recorder.py'}" in custom.stdout
    assert sum(json.loads(line) for line in recorded.read_text().splitlines()) == 6
    assert Path(tmp_path / "b.json").is_file()
