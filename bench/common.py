"""Shared pieces of the benchmarks: emulators in their own processes, real rides, the baseline."""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import platform
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".runs" / "bench"
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def ensure_path() -> None:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    os.environ.update(FAKE_AWS)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_kinesis(endpoint: str, proc: subprocess.Popen, timeout_s: float = 300) -> None:
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "kinesis",
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=Config(retries={"total_max_attempts": 1}, connect_timeout=1),
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"emulator exited with {proc.returncode}")
        try:
            client.list_streams()
            return
        except Exception:
            time.sleep(0.2)
    raise TimeoutError(f"no Kinesis on {endpoint}")


@contextlib.contextmanager
def moto_process() -> Iterator[tuple[str, subprocess.Popen]]:
    """A moto server in its own process (so its CPU is not ours), on loopback."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        _wait_kinesis(endpoint, proc)
        yield endpoint, proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@contextlib.contextmanager
def localstack_process() -> Iterator[tuple[str, subprocess.Popen] | None]:
    """LocalStack via integration-test/localstack.sh --serve; None if it cannot run here."""
    log = CACHE / f"localstack-{uuid.uuid4().hex[:6]}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as fh:
        proc = subprocess.Popen(
            [str(REPO / "integration-test/localstack.sh"), "--serve"],
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    endpoint = None
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and proc.poll() is None:
            text = log.read_text()
            match = re.search(r"LocalStack is serving [^\n]*? on (http://\S+)", text)
            if match:
                endpoint = match.group(1)
                break
            time.sleep(0.5)
        if endpoint is None:
            print(f"LocalStack unavailable: {log.read_text()[-500:]}", file=sys.stderr)
            yield None
        else:
            yield endpoint, proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=60)
        log.unlink(missing_ok=True)


def kinesis(endpoint: str) -> Any:
    from streaming.consumer.kinesis_client import make_kinesis_client

    ensure_path()
    return make_kinesis_client(endpoint)


def new_stream(client: Any, shards: int = 2, prefix: str = "bench") -> str:
    from streaming.tools.stream_io import create_stream

    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    create_stream(client, name, shards)
    return name


def holdout_trips() -> Any:
    from streaming.training import tlc

    trips, _ = tlc.load_trips(tlc.month_path(REPO / "data", "2023-02"))
    return trips


def ride_payloads(n: int, seed: int = 0) -> list[tuple[bytes, str]]:
    """``n`` real rides of 2023-02 as (JSON bytes, partition key)."""
    from streaming.training import tlc

    trips = holdout_trips()
    sample = trips.sample(n=n, random_state=seed, replace=n > len(trips))
    events = tlc.ride_events(sample)
    return [(json.dumps(e).encode(), str(e["ride_id"])) for e in events]


def lambda_event(payloads: list[tuple[bytes, str]]) -> dict[str, Any]:
    """One batch as the event source mapping delivers it (one shard, in order)."""
    from streaming.esm.lambda_event import lambda_event as build

    records = [
        {
            "Data": d,
            "PartitionKey": k,
            "SequenceNumber": str(10**20 + i),
            "ApproximateArrivalTimestamp": time.time(),
        }
        for i, (d, k) in enumerate(payloads)
    ]
    return build(
        records,
        shard_id="shardId-000000000000",
        stream_arn="arn:aws:kinesis:us-east-1:000000000000:stream/ride_events",
        region="us-east-1",
    )


def baseline_model_path() -> Path:
    """The course model (DictVectorizer + LinearRegression) fit on 2021-01, pickled once."""
    path = CACHE / "baseline-dv-lr-2021-01.pkl"
    if not path.exists():
        from bench.baseline.course_model import train
        from streaming.training import tlc

        trips, _ = tlc.load_trips(tlc.month_path(REPO / "data", "2021-01"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pickle.dumps(train(trips)))
    return path


def machine() -> dict[str, str]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024**2:.0f} GiB"
    versions = {}
    for dist in (
        "numpy",
        "boto3",
        "aws-lambda-powertools",
        "scikit-learn",
        "moto",
        "localstack-core",
    ):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[dist] = metadata.version(dist)
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": mem,
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": ", ".join(f"{k} {v}" for k, v in versions.items()),
    }
