"""Every mistake issue 11 lists for send, tail, replay, evaluate and demo (and those of the
commands since: train --trees, dashboard, demo --monitor), fed to the CLI.

Each must fail the same way: a non-zero exit, exactly one line on stderr, no
traceback, and that line names the problem. The commands run as a user runs
them - the installed script, from a directory that is not the project's -
against the emulator (moto, or LocalStack in its suite).
"""

from __future__ import annotations

import json
import subprocess
import uuid
from dataclasses import dataclass

import pytest

from streaming.training import tlc
from tests.conftest import DATA
from tests.support.anywhere import (
    assert_one_line_failure,
    closed_port_url,
    emulator_env,
    no_credentials_env,
    run_anywhere,
    streaming_command,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@dataclass(frozen=True)
class Mistake:
    """A command line that must fail; ``says`` are words its one line must contain.

    In ``args``, ``{stream}`` is an existing stream, ``{endpoint}`` the emulator,
    ``{dead}`` an endpoint where nothing listens, ``{tmp}`` a scratch directory
    and ``{tag}`` a fresh name part. ``env`` is "emulator" or "no-credentials"."""

    args: str
    says: tuple[str, ...]
    env: str = "emulator"


MISTAKES: dict[str, Mistake] = {
    # -- send
    "send: missing stream": Mistake(
        "send --stream nope-{tag} --count 5", ("nope-", "no such stream")
    ),
    "send: dead endpoint": Mistake(
        "send --stream {stream} --count 5 --endpoint-url {dead}", ("cannot reach",)
    ),
    "send: no credentials": Mistake(
        "send --stream {stream} --count 5", ("no aws credentials",), "no-credentials"
    ),
    "send: bad month": Mistake("send --month 2023-13", ("--month", "2023-13", "yyyy-mm")),
    "send: month not in data/": Mistake("send --month 1999-01", ("no tlc file", "1999-01")),
    "send: negative count": Mistake("send --count -5", ("--count", "at least 1")),
    "send: count beyond the month": Mistake(
        "send --stream {stream} --count 10000000", ("--count", "only", "usable rides")
    ),
    "send: negative rate": Mistake("send --rate -10", ("--rate", "0 or more")),
    "send: --file without YYYY-MM": Mistake("send --file {tmp}/rides.parquet", ("yyyy-mm",)),
    "send: --file missing": Mistake("send --file {tmp}/none_2023-02.parquet", ("does not exist",)),
    "send: --finished-stream missing": Mistake(
        "send --stream {stream} --count 5 --finished-stream nope-{tag}",
        ("--finished-stream", "nope-", "no such stream"),
    ),
    "send: --finished-stream with --generate": Mistake(
        "send --generate --finished-stream {stream}", ("--finished-stream", "--generate", "tlc")
    ),
    "send: --time-scale without --finished-stream": Mistake(
        "send --stream {stream} --time-scale 1", ("--time-scale", "--finished-stream")
    ),
    "send: negative --time-scale": Mistake(
        "send --finished-stream {stream} --time-scale -1", ("--time-scale", "0 or more")
    ),
    # -- tail
    "tail: missing stream": Mistake("tail --stream nope-{tag}", ("nope-", "no such stream")),
    "tail: unreachable endpoint": Mistake(
        "tail --stream {stream} --endpoint-url {dead}", ("cannot reach",)
    ),
    "tail: --timestamp without AT_TIMESTAMP": Mistake(
        "tail --stream {stream} --from LATEST --timestamp 2026-11-01",
        ("--timestamp", "at_timestamp"),
    ),
    "tail: AT_TIMESTAMP without --timestamp": Mistake(
        "tail --stream {stream} --from AT_TIMESTAMP", ("--timestamp",)
    ),
    "tail: --timestamp yesterday": Mistake(
        "tail --timestamp yesterday", ("--timestamp", "yesterday", "iso 8601")
    ),
    "tail: --jsonl into a missing directory": Mistake(
        "tail --stream {stream} --jsonl {tmp}/missing/p.jsonl", ("--jsonl", "does not exist")
    ),
    "tail: --count 0": Mistake("tail --count 0", ("--count", "at least 1")),
    # -- replay
    "replay: --to a missing stream": Mistake(
        "replay --dead-letters {stream} --to nope-{tag}", ("--to", "nope-", "no such stream")
    ),
    "replay: missing dead-letter stream": Mistake(
        "replay --dead-letters nope-{tag} --to {stream}", ("--dead-letters", "no such stream")
    ),
    "replay: unknown reason": Mistake(
        "replay --dead-letters {stream} --to {stream} --reason invalid_distance",
        ("invalid_distance", "invalid_trip_distance", "invalid_json"),
    ),
    "replay: --since lastweek": Mistake(
        "replay --dead-letters {stream} --to {stream} --since lastweek", ("--since", "lastweek")
    ),
    "replay: --transform not importable": Mistake(
        "replay --dead-letters {stream} --to {stream} --transform nofixes_{tag}:fix",
        ("--transform", "cannot import"),
    ),
    "replay: --transform without the function": Mistake(
        "replay --dead-letters {stream} --to {stream} --transform json:no_such_fix",
        ("--transform", "no_such_fix"),
    ),
    "replay: missing queue": Mistake(
        "replay --on-failure-queue {endpoint}/123456789012/nope-{tag} --source-stream {stream} "
        "--to {stream}",
        ("--on-failure-queue", "no such queue"),
    ),
    "replay: queue without --source-stream": Mistake(
        "replay --on-failure-queue {endpoint}/123456789012/q --to {stream}", ("--source-stream",)
    ),
    "replay: dead-letter filters on the queue": Mistake(
        "replay --on-failure-queue {endpoint}/123456789012/q --source-stream {stream} "
        "--to {stream} --reason invalid_json",
        ("--reason", "--on-failure-queue"),
    ),
    "replay: no credentials": Mistake(
        "replay --dead-letters {stream} --to {stream}", ("no aws credentials",), "no-credentials"
    ),
    # -- evaluate
    "evaluate: missing predictions file": Mistake(
        "evaluate --predictions {tmp}/none.jsonl", ("--predictions", "does not exist")
    ),
    "evaluate: --month 2023-13": Mistake(
        "evaluate --predictions {tmp}/predictions.jsonl --month 2023-13", ("--month", "2023-13")
    ),
    "evaluate: wrong --actuals file": Mistake(
        "evaluate --predictions {tmp}/predictions.jsonl --actuals {tmp}/wrong.csv",
        ("--actuals", "ride_id", "duration"),
    ),
    "evaluate: --actuals missing": Mistake(
        "evaluate --predictions {tmp}/predictions.jsonl --actuals {tmp}/none.csv",
        ("--actuals", "does not exist"),
    ),
    "evaluate: predictions not JSON": Mistake(
        "evaluate --predictions {tmp}/wrong.csv", ("--predictions", "not json")
    ),
    "evaluate: no matching ids": Mistake(
        "evaluate --predictions {tmp}/predictions.jsonl", ("none of the", "ride_id")
    ),
    "evaluate: missing stream": Mistake(
        "evaluate --stream nope-{tag}", ("--stream", "no such stream")
    ),
    # -- evaluate --compare
    "evaluate: --compare without a shadow": Mistake(
        "evaluate --compare --predictions {tmp}/predictions.jsonl", ("--compare", "--shadow")
    ),
    "evaluate: --shadow without --compare": Mistake(
        "evaluate --predictions {tmp}/predictions.jsonl --shadow {tmp}/shadow.jsonl",
        ("--shadow", "is for --compare"),
    ),
    "evaluate: --shadow missing": Mistake(
        "evaluate --compare --predictions {tmp}/predictions.jsonl --shadow {tmp}/none.jsonl",
        ("--shadow", "does not exist"),
    ),
    "evaluate: --shadow not predictions": Mistake(
        "evaluate --compare --predictions {tmp}/predictions.jsonl --shadow {tmp}/wrong.csv",
        ("--shadow", "no prediction events"),
    ),
    "evaluate: --shadow-stream missing": Mistake(
        "evaluate --compare --predictions {tmp}/predictions.jsonl --shadow-stream nope-{tag}",
        ("--shadow-stream", "no such stream"),
    ),
    "evaluate: --finished-stream missing": Mistake(
        "evaluate --compare --predictions {tmp}/predictions.jsonl --shadow {tmp}/shadow.jsonl "
        "--finished-stream nope-{tag}",
        ("--finished-stream", "no such stream"),
    ),
    "evaluate: --finished not ride_finished events": Mistake(
        "evaluate --compare --predictions {tmp}/predictions.jsonl --shadow {tmp}/shadow.jsonl "
        "--finished {tmp}/wrong.csv",
        ("--finished", "no valid ride_finished"),
    ),
    "evaluate: --finished and --month": Mistake(
        "evaluate --compare --predictions {tmp}/predictions.jsonl --shadow {tmp}/shadow.jsonl "
        "--finished {tmp}/shadow.jsonl --month 2023-02",
        ("--month", "not allowed with", "--finished"),
    ),
    "evaluate: --min-improvement 150": Mistake(
        "evaluate --compare --predictions {tmp}/predictions.jsonl --shadow {tmp}/shadow.jsonl "
        "--min-improvement 150",
        ("--min-improvement", "below 100"),
    ),
    "evaluate: --resamples 10": Mistake(
        "evaluate --compare --predictions {tmp}/predictions.jsonl --shadow {tmp}/shadow.jsonl "
        "--resamples 10",
        ("--resamples", "100-100000"),
    ),
    "evaluate: no ride scored by both": Mistake(
        "evaluate --compare --predictions {tmp}/predictions.jsonl --shadow {tmp}/shadow.jsonl",
        ("no ride was scored by both",),
    ),
    "evaluate: compared rides not in the month": Mistake(
        "evaluate --compare --predictions {tmp}/predictions.jsonl --shadow {tmp}/predictions.jsonl",
        ("none of the", "ride_id", "2023-02"),
    ),
    "evaluate: --shadow-stream without credentials": Mistake(
        "evaluate --compare --predictions {tmp}/predictions.jsonl --shadow-stream {stream}",
        ("no aws credentials",),
        "no-credentials",
    ),
    # -- demo
    "demo: --rides -5": Mistake("demo --rides -5", ("--rides", "at least 1")),
    "demo: --shards 0": Mistake("demo --shards 0", ("--shards", "at least 1")),
    "demo: --rate 0": Mistake("demo --rate 0", ("--rate", "more than 0")),
    "demo: no TLC month in --data-dir": Mistake("demo --data-dir {tmp}", ("no tlc file",)),
    # -- train
    "train: no TLC months in --data-dir": Mistake(
        "train --data-dir {tmp}", ("lacks the tlc months", "2021-01")
    ),
    "train: bad option": Mistake("train --epochs 5", ("unrecognized", "--epochs")),
    "train: --trees 0": Mistake("train --trees 0", ("--trees", "at least 1")),
    # -- dashboard
    "dashboard: --port 99999": Mistake("dashboard --port 99999", ("--port", "1-65535")),
    "dashboard: --hours -1": Mistake("dashboard --hours -1", ("--hours", "0 or more")),
    "dashboard: --refresh 1": Mistake("dashboard --refresh 1", ("--refresh", "2-3600")),
    "dashboard: not a database": Mistake("dashboard --db mysql://x/y", ("not supported",)),
    "dashboard: a database that does not answer": Mistake(
        "dashboard --db postgresql://u:hunter2@127.0.0.1:1/db --port 0",
        ("cannot open the monitoring database", "is it running"),
    ),
    "demo: --monitor-db without --monitor": Mistake(
        "demo --monitor-db {tmp}/m.db", ("need --monitor",)
    ),
    # -- invoke
    "invoke: nothing to invoke": Mistake("invoke", ("give a ride event",)),
    "invoke: --event missing": Mistake("invoke --event {tmp}/none.json", ("cannot read",)),
    # -- the CLI itself
    "unknown command": Mistake("foo", ("unknown command", "foo")),
    "unknown option": Mistake("send --rides 5", ("unrecognized", "--rides")),
}


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    """Files the mistakes name: predictions of no TLC ride (and a shadow's of another
    ride), a CSV that is no actuals."""
    tmp = tmp_path_factory.mktemp("mistakes")
    prediction = {"prediction": {"ride_id": "app-1", "ride_duration": 12.0}}
    (tmp / "predictions.jsonl").write_text(json.dumps(prediction) + "\n")
    shadow = {"prediction": {"ride_id": "app-2", "ride_duration": 11.0}}  # another ride
    (tmp / "shadow.jsonl").write_text(json.dumps(shadow) + "\n")
    (tmp / "wrong.csv").write_text("a,b\n1,2\n")
    (tmp / "rides.parquet").write_bytes(b"PAR1 not a month in the name")
    return tmp


@pytest.mark.parametrize("name", list(MISTAKES))
def test_a_mistake_is_one_line_naming_it(name, scratch, moto_endpoint, new_stream):
    mistake = MISTAKES[name]
    args = mistake.args.format(
        stream=new_stream(shards=1) if "{stream}" in mistake.args else "unused",
        endpoint=moto_endpoint,
        dead=closed_port_url(),
        tmp=scratch,
        tag=uuid.uuid4().hex[:8],
    ).split()
    env = (
        no_credentials_env(moto_endpoint, scratch)
        if mistake.env == "no-credentials"
        else emulator_env(moto_endpoint)
    )
    proc = run_anywhere(*args, cwd=scratch, env=env, timeout=120)
    assert_one_line_failure(name, proc, "streaming", list(mistake.says))


def test_verbose_shows_the_traceback(scratch, moto_endpoint):
    """-v: the same line, after the traceback."""
    env = emulator_env(moto_endpoint)
    proc = run_anywhere(
        "evaluate", "--predictions", str(scratch / "predictions.jsonl"), "-v", cwd=scratch, env=env
    )
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("streaming evaluate: none of the")


def test_evaluate_into_a_closed_pipe_is_quiet(scratch, moto_endpoint):
    """``evaluate --json | head``: the reader left; no traceback, no noise, not exit 0."""
    trips, _ = tlc.load_trips(tlc.month_path(DATA, "2023-02"))
    path = scratch / "tlc-predictions.jsonl"
    path.write_text(
        "".join(
            json.dumps({"prediction": {"ride_id": int(i), "ride_duration": 10.0}}) + "\n"
            for i in trips.index[:200]
        )
    )
    for extra in (["--json"], []):
        proc = subprocess.Popen(
            [*streaming_command(), "evaluate", "--predictions", str(path), *extra],
            cwd=scratch,
            env=emulator_env(moto_endpoint),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        proc.stdout.close()  # as head does once it has its lines
        err = proc.stderr.read()
        proc.stderr.close()
        assert proc.wait(timeout=120) != 0
        assert "Traceback" not in err and "Exception ignored" not in err, err
        assert len(err.strip().splitlines()) <= 1, err
