"""Pure rules of the local event source mapping (the emulator tests cover the rest)."""

from __future__ import annotations

from streaming.esm.outcome import BatchFailure, PartialFailure, Success, classify
from streaming.esm.reader import ready_shards

SEQS = ["10", "20", "30"]


def shard(sid, parent=None, adjacent=None):
    s = {"ShardId": sid}
    if parent:
        s["ParentShardId"] = parent
    if adjacent:
        s["AdjacentParentShardId"] = adjacent
    return s


def test_children_wait_for_every_parent():
    # 0 split into 1 and 2; then 1 and 2 merged into 3
    shards = [shard("0"), shard("1", "0"), shard("2", "0"), shard("3", "1", "2")]
    assert list(ready_shards(shards, set().__contains__)) == [("0", False)]
    assert list(ready_shards(shards, {"0"}.__contains__)) == [("1", True), ("2", True)]
    assert list(ready_shards(shards, {"0", "1"}.__contains__)) == [("2", True)]
    assert list(ready_shards(shards, {"0", "1", "2"}.__contains__)) == [("3", True)]


def test_a_parent_gone_from_the_stream_does_not_block():
    # retention expired: the parent is no longer listed
    assert list(ready_shards([shard("5", "4")], set().__contains__)) == [("5", False)]


def test_outcomes():
    assert classify(None, RuntimeError("x"), SEQS, report_batch_item_failures=True) == BatchFailure(
        "RuntimeError: x"
    )
    failures = {"batchItemFailures": [{"itemIdentifier": "30"}, {"itemIdentifier": "20"}]}
    assert classify(failures, None, SEQS, report_batch_item_failures=True) == PartialFailure(1)
    assert classify(failures, None, SEQS, report_batch_item_failures=False) == Success()
    assert isinstance(
        classify({"batchItemFailures": "x"}, None, SEQS, report_batch_item_failures=True),
        BatchFailure,
    )
