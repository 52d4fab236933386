"""``streaming run`` without an emulator: its checkpoint file's rules, its help, the
lines it prints and when it fails (tests/integration/test_run_cli.py runs it)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from streaming.esm.checkpoints import CheckpointError, CheckpointStore, creation_key
from streaming.esm.events import Discarded, Invoked, ReadFailed, ShardFinished, ShardStarted
from streaming.esm.runner import RunStats
from streaming.tools import run

ARN = "arn:aws:kinesis:us-east-1:000000000000:stream/ride_events"
CREATED = datetime(2026, 11, 1, 8, 0, 0, 123000, tzinfo=UTC)
RECREATED = CREATED + timedelta(hours=1)


# -- checkpoints: kept per stream ARN *and* creation time ---------------------------


def saved(path, created=CREATED, seq="42"):
    store = CheckpointStore.load(path, ARN, created)
    store.advance("shardId-000000000000", seq)
    return store


def test_a_stream_resumes_from_its_own_checkpoints(tmp_path):
    path = tmp_path / "checkpoints.json"
    saved(path)
    again = CheckpointStore.load(path, ARN, CREATED)
    assert again.get("shardId-000000000000").sequence_number == "42"
    assert again.ignored is None


def test_a_recreated_stream_does_not_inherit_the_checkpoints(tmp_path):
    # the issue: an emulator restarted, the stream created again with the same ARN,
    # and every shard "resumed" past the new stream's records
    path = tmp_path / "checkpoints.json"
    saved(path)
    store = CheckpointStore.load(path, ARN, RECREATED)
    assert store.shards == {}
    assert "earlier stream" in store.ignored and CREATED.isoformat() in store.ignored
    store.advance("shardId-000000000000", "7")  # the entry is replaced, not merged
    data = json.loads(path.read_text())
    assert data["version"] == 2
    assert data["streams"][ARN] == {
        "created": RECREATED.isoformat(),
        "shards": {"shardId-000000000000": {"sequenceNumber": "7", "finished": False}},
    }


def test_the_first_format_is_ignored_with_a_reason_never_guessed(tmp_path):
    path = tmp_path / "checkpoints.json"
    other = "arn:aws:kinesis:us-east-1:000000000000:stream/other"
    legacy = {"sequenceNumber": "2494", "finished": False}
    path.write_text(
        json.dumps({"streams": {ARN: {"shardId-000000000000": legacy}, other: {"s": legacy}}})
    )
    store = CheckpointStore.load(path, ARN, CREATED)
    assert store.shards == {}
    assert "first format" in store.ignored
    store.advance("shardId-000000000000", "1")
    data = json.loads(path.read_text())
    assert data["streams"][ARN]["created"] == CREATED.isoformat()
    assert data["streams"][other] == {"s": legacy}  # another stream's entry is left alone


def test_creation_times_compare_in_utc():
    here = CREATED.astimezone(timezone(timedelta(hours=2)))
    assert creation_key(here) == creation_key(CREATED) == "2026-11-01T08:00:00.123000+00:00"


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '{"streams": 3}'])
def test_a_file_that_is_not_checkpoints_is_an_error_and_is_kept(tmp_path, text):
    path = tmp_path / "checkpoints.json"
    path.write_text(text)
    with pytest.raises(CheckpointError, match=str(path)):
        CheckpointStore.load(path, ARN, CREATED)
    assert path.read_text() == text


def test_run_names_the_option_of_a_bad_checkpoint_file(tmp_path):
    path = tmp_path / "checkpoints.json"
    path.write_text("{")
    args = argparse.Namespace(checkpoint_file=path)
    summary = {"StreamARN": ARN, "StreamCreationTimestamp": CREATED}
    with pytest.raises(Exception, match="--checkpoint-file") as caught:
        run._load_checkpoints(args, summary)
    assert caught.value.exit_code == 2


# -- help ------------------------------------------------------------------------------


def test_help_is_plain_text_and_every_option_has_help_and_its_default():
    parser = run.build_parser()
    text = parser.format_help()
    assert "``" not in text
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, action.option_strings
        shown = parser._get_formatter()._expand_help(action)
        assert "(default: " in shown or "(required)" in shown, action.option_strings


# -- the lines it prints ----------------------------------------------------------------


def invoked(**changes):
    fields = {
        "shard_id": "shardId-000000000000",
        "records": 100,
        "first_sequence": "1",
        "last_sequence": "100",
        "attempt": 1,
        "duration_ms": 12.34,
        "outcome": "ok",
        "response": {"batchItemFailures": [], "predictions": [{}] * 97},
        "done": 100,
    }
    return Invoked(**(fields | changes))


def test_one_readable_line_per_batch():
    line = run.BatchLines.format(invoked())
    assert line == "shardId-000000000000  100 records  97 predicted, 3 rejected, 0 failed  12.3 ms"


def test_a_batch_with_unpublished_records_says_so_and_when_it_is_retried():
    response = {"batchItemFailures": [{"itemIdentifier": "60"}] * 2, "predictions": [{}] * 100}
    line = run.BatchLines.format(
        invoked(outcome="partial", response=response, done=59, retry_in_s=0.5)
    )
    assert "100 predicted, 0 rejected, 2 failed" in line
    assert "41 from the first failed record not done; retry in 0.5 s" in line


def test_a_failed_invocation_names_its_error_and_what_happens_next():
    failed = invoked(outcome="failed", error="RuntimeError: boom", done=0, response=None)
    assert "FAILED: RuntimeError: boom; retry in 2 s" in run.BatchLines.format(
        invoked(**(vars(failed) | {"retry_in_s": 2.0}))
    )
    assert "retries exhausted" in run.BatchLines.format(failed)
    assert "split in two" in run.BatchLines.format(invoked(**(vars(failed) | {"split": True})))


def test_another_handlers_response_is_counted_by_its_failures():
    line = run.BatchLines.format(invoked(response=None))
    assert "100 ok, 0 failed" in line


def test_how_each_shard_starts_is_said():
    fmt = run.BatchLines.format
    assert "resumes after checkpoint 42" in fmt(ShardStarted("s0", "42", "TRIM_HORIZON"))
    assert "no checkpoint, starts from LATEST" in fmt(ShardStarted("s0", None, "LATEST"))
    assert "child shard" in fmt(ShardStarted("s2", None, "TRIM_HORIZON", is_child=True))
    assert "earlier run" in fmt(ShardFinished("s0", earlier=True))
    discarded = Discarded("s0", 5, "1", "5", "RecordAgeExceeded", "too old", "f.jsonl")
    assert "5 records DISCARDED (RecordAgeExceeded: too old) -> f.jsonl" in fmt(discarded)
    assert "GetRecords failed (boom); retrying in 1 s" in fmt(ReadFailed("s0", "boom", 1.0))


# -- no failure exits 0 -------------------------------------------------------------------


class Mapping:
    def __init__(self, failing=None):
        self.failing = failing or {}

    def failing_reads(self):
        return self.failing


def test_discarded_records_fail_the_run_with_a_summary():
    stats = RunStats(discarded_records=12, discarded_batches=3)
    stats.discarded_by_condition = {"RetryAttemptsExhausted": 10, "RecordAgeExceeded": 2}
    with pytest.raises(Exception) as caught:
        run._verdict(Mapping(), stats, None)
    assert caught.value.exit_code == 1
    message = str(caught.value)
    assert "12 records in 3 batches were discarded" in message
    assert "2 RecordAgeExceeded, 10 RetryAttemptsExhausted" in message


def test_a_run_that_stopped_while_reads_failed_fails():
    failing = {"shardId-000000000000": "EndpointConnectionError: down"}
    with pytest.raises(Exception, match="reading the stream was failing") as caught:
        run._verdict(Mapping(failing), RunStats(), None)
    assert caught.value.exit_code == 1


def test_a_clean_run_passes():
    run._verdict(Mapping(), RunStats(invocations=3, records_done=300), None)
