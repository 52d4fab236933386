"""Every ``streaming run`` mistake of issue 11, fed to the CLI.

Each must fail the same way: a non-zero exit, exactly one line on stderr, no
traceback, and that line names the problem - a missing stream, an endpoint that
does not answer, a bad ``--handler``, no region, a handler whose init fails,
and a run that discarded records (no failure may look like success). The
command runs as a user runs it - the installed script, from a directory that is
not the project's - against the emulator (moto, or LocalStack in its suite).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

import pytest

from tests.support.anywhere import (
    assert_one_line_failure,
    closed_port_url,
    emulator_env,
    no_credentials_env,
    run_anywhere,
)
from tests.support.rides import ride_bytes
from tests.support.streams import put

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: what a run that should end by itself is given
STOP = "--stop-when-idle 0.5 --poll-interval 0.1"


@dataclass(frozen=True)
class Mistake:
    """A ``run`` command line that must fail; ``says``: words its one line must contain
    (lower case).

    In ``args``, ``{stream}`` is a new stream holding ``records`` rides (written
    ``age_s`` seconds before the run), ``{dead}`` an endpoint where nothing
    listens, ``{tmp}`` the scratch directory (also the current directory) and
    ``{tag}`` a fresh name part. ``env``: "emulator" or "no-credentials", plus ``extra``."""

    args: str
    says: tuple[str, ...]
    records: int = 0
    age_s: float = 0.0
    env: str = "emulator"
    extra: dict[str, str] = field(default_factory=dict)


MISTAKES: dict[str, Mistake] = {
    "missing stream": Mistake(f"run --stream nope-{{tag}} {STOP}", ("nope-", "no such stream")),
    "endpoint down": Mistake(
        f"run --stream {{stream}} --endpoint-url {{dead}} {STOP}", ("cannot reach",)
    ),
    "endpoint not a URL": Mistake(
        f"run --stream {{stream}} --endpoint-url localhost:4566 {STOP}",
        ("--endpoint-url", "give a url"),
    ),
    "no region": Mistake(f"run --stream {{stream}} --region= {STOP}", ("no aws region",)),
    "no credentials": Mistake(
        f"run --stream {{stream}} {STOP}", ("no aws credentials",), env="no-credentials"
    ),
    "--handler not importable": Mistake(
        f"run --stream {{stream}} --handler nohandler_{{tag}}:handle {STOP}",
        ("--handler", "no module", "nohandler_"),
    ),
    "--handler without the function": Mistake(
        f"run --stream {{stream}} --handler failing:no_such_handler {STOP}",
        ("--handler", "no_such_handler"),
    ),
    "--handler not module:function": Mistake(
        f"run --stream {{stream}} --handler lambda_handler {STOP}",
        ("--handler", "module:function"),
    ),
    "the handler's init fails": Mistake(
        f"run --stream {{stream}} {STOP}",
        ("init", "cannot load model", "{tmp}"),
        extra={"MODEL_LOCATION": "{tmp}"},
    ),
    "--batch-size out of range": Mistake(
        f"run --stream {{stream}} --batch-size 20000 {STOP}", ("--batch-size", "1-10000")
    ),
    "AT_TIMESTAMP without a time": Mistake(
        f"run --stream {{stream}} --starting-position AT_TIMESTAMP {STOP}",
        ("--starting-timestamp",),
    ),
    "AT_TIMESTAMP in the future": Mistake(
        f"run --stream {{stream}} --starting-position AT_TIMESTAMP "
        f"--starting-timestamp 2999-01-01T00:00:00Z {STOP}",
        ("--starting-timestamp", "in the future"),
    ),
    "--parallelization-factor out of range": Mistake(
        f"run --stream {{stream}} --parallelization-factor 11 {STOP}",
        ("--parallelization-factor", "1-10"),
    ),
    "--tumbling-window with lanes": Mistake(
        f"run --stream {{stream}} --tumbling-window 60 --parallelization-factor 2 {STOP}",
        ("--tumbling-window", "parallelization factor 1"),
    ),
    "a stream as on-failure destination": Mistake(
        f"run --stream {{stream}} --on-failure arn:aws:kinesis:us-east-1:000000000000:stream/x "
        f"{STOP}",
        ("--on-failure", "not a stream"),
    ),
    "checkpoint file not JSON": Mistake(
        f"run --stream {{stream}} --checkpoint-file {{tmp}}/broken.json {STOP}",
        ("--checkpoint-file", "cannot read"),
    ),
    "every record too old: discarded": Mistake(
        f"run --stream {{stream}} --max-record-age 1 {STOP}",
        ("5 records", "discarded", "recordageexceeded"),
        records=5,
        age_s=1.5,
    ),
    "the function fails: discarded to the destination": Mistake(
        f"run --stream {{stream}} --handler failing:handler --max-retries 1 "
        f"--on-failure {{tmp}}/failures-{{tag}}.jsonl {STOP}",
        ("4 records", "discarded", "retryattemptsexhausted", "failures-"),
        records=4,
    ),
}


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    """The current directory of the mistakes: a failing handler, a broken checkpoint file."""
    tmp = tmp_path_factory.mktemp("run-mistakes")
    (tmp / "failing.py").write_text(
        "def handler(event, context):\n    raise RuntimeError('the function is broken')\n"
    )
    (tmp / "broken.json").write_text("{not json")
    return tmp


@pytest.mark.parametrize("name", list(MISTAKES))
def test_a_run_mistake_is_one_line_naming_it(name, scratch, moto_endpoint, kinesis, new_stream):
    mistake = MISTAKES[name]
    stream = new_stream(shards=1)
    if mistake.records:
        put(kinesis, stream, [ride_bytes(i) for i in range(mistake.records)])
        time.sleep(mistake.age_s)
    values = {
        "stream": stream,
        "dead": closed_port_url(),
        "tmp": str(scratch),
        "tag": uuid.uuid4().hex[:8],
    }
    args = mistake.args.format(**values).split()
    env = (
        no_credentials_env(moto_endpoint, scratch)
        if mistake.env == "no-credentials"
        else emulator_env(moto_endpoint)
    )
    env.update({k: v.format(**values) for k, v in mistake.extra.items()})
    env["TEST_RUN"] = "True"  # the handler does not publish: nothing to set up for it
    proc = run_anywhere(*args, cwd=scratch, env=env, timeout=120)
    says = [word.format(**values) for word in mistake.says]
    assert_one_line_failure(name, proc, "streaming run: ", says)


def test_verbose_shows_the_traceback_then_the_line(scratch, moto_endpoint):
    proc = run_anywhere(
        "run",
        "--stream",
        f"nope-{uuid.uuid4().hex[:8]}",
        "-v",
        cwd=scratch,
        env=emulator_env(moto_endpoint),
        timeout=120,
    )
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr
    assert "no such stream" in proc.stderr.strip().splitlines()[-1]
