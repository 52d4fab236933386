"""Every mistake issue 11 lists for ``score`` and ``serve``, fed to the CLI.

Each must fail the same way: a non-zero exit, exactly one line on stderr, no
traceback, and that line names the problem. The commands run as a user runs
them - the installed script, from a directory that is not the project's - with
S3 on the emulator (moto, or LocalStack in its suite). A ``serve`` that got past
its checks would start gunicorn and never return: the run's timeout fails it.
"""

from __future__ import annotations

import socket
import subprocess
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.support.anywhere import (
    assert_one_line_failure,
    closed_port_url,
    emulator_env,
    no_credentials_env,
    run_anywhere,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@dataclass(frozen=True)
class Mistake:
    """A command line that must fail; ``says`` are words its one line must contain.

    In ``args``, ``{tmp}`` is a scratch directory holding the files below,
    ``{bucket}`` an S3 bucket holding ``trips.parquet``, ``{tag}`` a fresh name
    part and ``{busy}`` a port something listens on. ``env``: "emulator",
    "no-credentials", "dead-endpoint" (S3 where nothing listens) or "no-model"
    (MODEL_LOCATION names no model)."""

    args: str
    says: tuple[str, ...]
    env: str = "emulator"


SCORE = "score --quiet --output {tmp}/out.parquet"

MISTAKES: dict[str, Mistake] = {
    # -- score: the input
    "score: missing file": Mistake(
        f"{SCORE} --input {{tmp}}/none.parquet", ("cannot read", "none.parquet", "no such file")
    ),
    "score: CSV input": Mistake(
        f"{SCORE} --input {{tmp}}/trips.csv", ("trips.csv", "neither parquet nor json", "csv")
    ),
    "score: CSV named .parquet": Mistake(
        f"{SCORE} --input {{tmp}}/csv.parquet", ("csv.parquet", "neither parquet nor json")
    ),
    "score: missing column": Mistake(
        f"{SCORE} --input {{tmp}}/no_distance.parquet", ("no column trip_distance",)
    ),
    "score: a date pickup column": Mistake(
        f"{SCORE} --input {{tmp}}/date_pickup.parquet", ("lpep_pickup_datetime", "date")
    ),
    "score: bad --model": Mistake(
        f"{SCORE} --input {{tmp}}/trips.parquet --model {{tmp}}/nomodel",
        ("cannot load model", "nomodel"),
    ),
    # -- score: the outputs and options
    "score: --output of no known format": Mistake(
        "score --input {tmp}/trips.parquet --output {tmp}/preds.txt",
        ("--output", "preds.txt", ".parquet or .csv"),
    ),
    "score: --output is the input": Mistake(
        "score --input {tmp}/trips.parquet --output {tmp}/trips.parquet", ("overwrite",)
    ),
    "score: --output is a directory": Mistake(
        "score --input {tmp}/trips.parquet --output {tmp}", ("is a directory",)
    ),
    "score: --chunk-rows 0": Mistake(
        f"{SCORE} --input {{tmp}}/trips.parquet --chunk-rows 0", ("--chunk-rows", "at least 1")
    ),
    "score: no --output": Mistake("score --input {tmp}/trips.parquet", ("--output", "required")),
    "score: unknown option": Mistake(
        f"{SCORE} --input {{tmp}}/trips.parquet --threads 2", ("unrecognized", "--threads")
    ),
    # -- score: S3
    "score: no such bucket": Mistake(
        f"{SCORE} --input s3://nope-{{tag}}/trips.parquet", ("no such bucket", "nope-")
    ),
    "score: no such key": Mistake(
        f"{SCORE} --input s3://{{bucket}}/none.parquet", ("no such object", "none.parquet")
    ),
    "score: an S3 URI without a key": Mistake(
        f"{SCORE} --input s3://{{bucket}}", ("names no object", "s3://bucket/key")
    ),
    "score: output bucket missing": Mistake(
        "score --quiet --input {tmp}/trips.parquet --output s3://nope-{tag}/out.parquet",
        ("cannot write", "no such bucket"),
    ),
    "score: S3 without credentials": Mistake(
        f"{SCORE} --input s3://{{bucket}}/trips.parquet", ("no aws credentials",), "no-credentials"
    ),
    "score: S3 endpoint down": Mistake(
        f"{SCORE} --input s3://{{bucket}}/trips.parquet",
        ("cannot reach", "aws_endpoint_url_s3"),
        "dead-endpoint",
    ),
    # -- serve
    "serve: --port 70000": Mistake("serve --port 70000", ("--port", "1-65535", "70000")),
    "serve: --port abc": Mistake("serve --port abc", ("--port", "abc")),
    "serve: --workers 0": Mistake("serve --workers 0", ("--workers", "at least 1")),
    "serve: --threads 0 (removed)": Mistake("serve --threads 0", ("unrecognized", "--threads")),
    "serve: --body-timeout 0": Mistake("serve --body-timeout 0", ("--body-timeout", "more than 0")),
    "serve: port in use": Mistake("serve --port {busy}", ("port {busy}", "in use", "--port")),
    "serve: --host not of this machine": Mistake(
        "serve --host 192.0.2.1 --port 9", ("--host", "192.0.2.1", "not an address")
    ),
    "serve: no model": Mistake("serve --port 9", ("cannot load model",), "no-model"),
}


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    """The files the mistakes name."""
    tmp = tmp_path_factory.mktemp("serving-mistakes")
    n = 20
    trips = {
        "lpep_pickup_datetime": pa.array(
            [datetime(2023, 2, 1, 8) + timedelta(minutes=7 * i) for i in range(n)],
            pa.timestamp("us"),
        ),
        "PULocationID": pa.array([74 + i % 30 for i in range(n)]),
        "DOLocationID": pa.array([75 + i % 20 for i in range(n)]),
        "trip_distance": pa.array([1.0 + i / 10 for i in range(n)]),
    }
    pq.write_table(pa.table(trips), tmp / "trips.parquet")
    csv = "lpep_pickup_datetime,PULocationID,DOLocationID,trip_distance\n" + "".join(
        f"2023-02-01 08:{i:02d}:00,74,75,1.5\n" for i in range(n)
    )
    (tmp / "trips.csv").write_text(csv)
    (tmp / "csv.parquet").write_text(csv)
    pq.write_table(pa.table({k: v for k, v in trips.items() if k != "trip_distance"}),
                   tmp / "no_distance.parquet")  # fmt: skip
    dated = {**trips, "lpep_pickup_datetime": pa.array([date(2023, 2, 1)] * n, pa.date32())}
    pq.write_table(pa.table(dated), tmp / "date_pickup.parquet")
    (tmp / "nomodel").mkdir()
    return tmp


@pytest.fixture(scope="module")
def bucket(moto_endpoint, scratch):
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    name = f"mistakes-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    s3.upload_file(str(scratch / "trips.parquet"), name, "trips.parquet")
    return name


@pytest.fixture
def busy_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _env(kind: str, endpoint: str, scratch) -> dict[str, str]:
    if kind == "no-credentials":
        env = no_credentials_env(endpoint, scratch)
    else:
        env = emulator_env(endpoint)
    env.pop("MODEL_LOCATION", None)
    env["AWS_ENDPOINT_URL_S3"] = closed_port_url() if kind == "dead-endpoint" else endpoint
    if kind == "no-model":
        env["MODEL_LOCATION"] = str(scratch / "nomodel")
    return env


def _run(args: list[str], env: dict[str, str], cwd) -> subprocess.CompletedProcess[str]:
    try:
        return run_anywhere(*args, cwd=cwd, env=env, timeout=90)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(args)} did not end (a server started?)")


@pytest.mark.parametrize("name", list(MISTAKES))
def test_a_mistake_is_one_line_naming_it(name, scratch, bucket, busy_port, moto_endpoint):
    mistake = MISTAKES[name]
    values = {"tmp": scratch, "bucket": bucket, "tag": uuid.uuid4().hex[:8], "busy": busy_port}
    args = mistake.args.format(**values).split()
    proc = _run(args, _env(mistake.env, moto_endpoint, scratch), scratch)
    says = [word.format(**values) for word in mistake.says]
    assert_one_line_failure(name, proc, f"streaming {args[0]}: ", says)
    assert proc.stdout == "", proc.stdout  # no summary: nothing was scored
    assert not (scratch / "out.parquet").exists()


@pytest.mark.parametrize(
    "args",
    [
        "score --quiet --input {tmp}/trips.csv --output {tmp}/out.parquet -v",
        "serve --port {busy} -v",
    ],
)
def test_verbose_shows_the_traceback_then_the_line(args, scratch, busy_port, moto_endpoint):
    argv = args.format(tmp=scratch, busy=busy_port).split()
    proc = _run(argv, _env("emulator", moto_endpoint, scratch), scratch)
    assert proc.returncode == 2
    assert "Traceback" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith(f"streaming {argv[0]}: ")
