"""Pure rules of the local event source mapping (the emulator tests cover the rest)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streaming.esm.config import MappingConfig
from streaming.esm.lanes import Batch, Progress, lane_of
from streaming.esm.outcome import BatchFailure, PartialFailure, Success, classify
from streaming.esm.reader import ready_shards
from streaming.esm.windows import MAX_STATE_BYTES, WindowTracker
from tests.support.budget import examples

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


# -- lanes (ParallelizationFactor) -------------------------------------------------------


def records(*seqs):
    return [{"SequenceNumber": str(s)} for s in seqs]


def test_one_key_always_lands_in_one_lane_and_keys_spread():
    assert {lane_of("ride-7", 4) for _ in range(10)} == {lane_of("ride-7", 4)}
    spread = Counter(lane_of(f"k{i}", 4) for i in range(4000))
    assert set(spread) == {0, 1, 2, 3} and min(spread.values()) > 800
    assert lane_of("anything", 1) == 0


def test_the_checkpoint_is_the_last_record_before_the_first_unfinished_one():
    progress = Progress()
    progress.read(records(1, 2, 3, 4, 5))
    progress.finish(records(2, 4))  # other lanes finished first
    assert progress.checkpoint() is None  # 1 is unfinished: nothing may be skipped
    progress.finish(records(1))
    assert progress.checkpoint() == "2"  # 3 is still unfinished
    progress.finish(records(3, 5))
    assert progress.checkpoint() == "5" and progress.unfinished() == 0


@examples(100)
@given(st.permutations(list(range(1, 30))))
def test_the_checkpoint_never_passes_an_unfinished_record(order):
    progress = Progress()
    progress.read(records(*range(1, 30)))
    finished: set[int] = set()
    for seq in order:
        progress.finish(records(seq))
        finished.add(seq)
        checkpoint = progress.checkpoint()
        if checkpoint is not None:
            assert set(range(1, int(checkpoint) + 1)) <= finished


def test_settings_out_of_range_are_refused_by_name():
    for bad, words in [
        ({"parallelization_factor": 0}, "parallelization factor must be 1-10"),
        ({"parallelization_factor": 11}, "parallelization factor must be 1-10"),
        ({"tumbling_window_s": -1}, "tumbling window must be 0-900"),
        ({"reserved_concurrency": -1}, "reserved concurrency"),
    ]:
        with pytest.raises(ValueError, match=words):
            MappingConfig(**bad)


# -- tumbling windows --------------------------------------------------------------------


def at(epoch, seq=1):
    return {"SequenceNumber": str(seq), "ApproximateArrivalTimestamp": epoch}


def test_windows_are_aligned_on_multiples_of_their_length():
    tracker = WindowTracker(120)
    moment = datetime(2020, 12, 9, 7, 5, 13, tzinfo=UTC)  # the doc's example window
    start = tracker.window_of(at(moment))
    assert datetime.fromtimestamp(start, UTC) == datetime(2020, 12, 9, 7, 4, tzinfo=UTC)


def test_a_batch_stops_at_the_window_boundary():
    tracker = WindowTracker(10)
    buffer = [at(100.0, 1), at(109.9, 2), at(110.0, 3)]
    assert tracker.same_window_prefix(buffer) == 2
    assert tracker.must_cut(buffer, wall=105.0)  # it already holds the next window


def test_the_final_invocation_waits_for_a_read_after_the_window_end():
    tracker = WindowTracker(10)
    fields = tracker.event_fields(Batch([at(100.0)]), "shardId-0", "arn")
    assert fields["window"] == {"start": "1970-01-01T00:01:40Z", "end": "1970-01-01T00:01:50Z"}
    assert tracker.final_batch(wall=111.0) is None  # no read since the end: more may come
    tracker.read_at(111.0, closed=False)
    final = tracker.final_batch(wall=111.0)
    assert final is not None and final.final and final.records == []
    assert tracker.final_batch(wall=112.0) is None  # queued once


def test_a_state_over_1_mb_ends_the_window_early():
    from streaming.esm.outcome import Success

    tracker = WindowTracker(60)
    batch = Batch([at(100.0)])
    tracker.event_fields(batch, "shardId-0", "arn")
    tracker.settle(batch, {"state": {"x": "y" * MAX_STATE_BYTES}}, Success())
    early = tracker.before(Batch([at(101.0, 2)]))
    assert early is not None and early.final and early.early
