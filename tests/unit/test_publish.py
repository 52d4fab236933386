"""PutRecords chunking and the retry of failed entries (Sender = our one-call interface)."""

from __future__ import annotations

import pytest

from streaming.publish import (
    MAX_BYTES_PER_CALL,
    MAX_BYTES_PER_RECORD,
    Entry,
    PartitionKeyInvalid,
    RecordTooLarge,
    RetryPolicy,
    SendError,
    check_entry,
    chunks,
    publish,
)


def entries(n, size=10):
    return [Entry(b"x" * size, str(i), i) for i in range(n)]


class ScriptedSender:
    """Fails entries by a rule, records every call (what was sent, in what order)."""

    def __init__(self, fail=lambda call, entry: None, raise_on=()):
        self.calls: list[list[int]] = []
        self.fail = fail
        self.raise_on = dict(raise_on)
        self.written: list[int] = []

    def __call__(self, stream, batch):
        call = len(self.calls)
        self.calls.append([e.ref for e in batch])
        if call in self.raise_on:
            raise self.raise_on[call]
        codes = [self.fail(call, e) for e in batch]
        self.written.extend(e.ref for e, c in zip(batch, codes, strict=False) if c is None)
        return codes


def no_sleep(_s):
    pass


def test_chunks_respect_500_records():
    sizes = [len(c) for c in chunks(entries(1201))]
    assert sizes == [500, 500, 201]


def test_chunks_respect_5_mib():
    big = entries(12, size=MAX_BYTES_PER_RECORD - 10)  # ~1 MiB each incl. key
    out = list(chunks(big))
    assert all(sum(e.size for e in c) <= MAX_BYTES_PER_CALL for c in out)
    assert [len(c) for c in out] == [5, 5, 2]
    assert [e.ref for c in out for e in c] == list(range(12))  # order kept


def test_named_limit_errors():
    check_entry(Entry(b"x" * (MAX_BYTES_PER_RECORD - 1), "k", 0))
    with pytest.raises(RecordTooLarge):
        check_entry(Entry(b"x" * MAX_BYTES_PER_RECORD, "k", 0))
    with pytest.raises(PartitionKeyInvalid):
        check_entry(Entry(b"x", "", 0))
    with pytest.raises(PartitionKeyInvalid):
        check_entry(Entry(b"x", "k" * 257, 0))


def test_all_written_in_one_call_per_chunk():
    send = ScriptedSender()
    out = publish(send, "s", entries(700), sleep=no_sleep)
    assert out.failed == [] and out.published == 700 and out.calls == 2
    assert out.retried_entries == 0


def test_only_failed_entries_are_retried():
    # every third entry is throttled on the first call, then succeeds
    send = ScriptedSender(
        fail=lambda call, e: (
            "ProvisionedThroughputExceededException" if call == 0 and e.ref % 3 == 0 else None
        )
    )
    out = publish(send, "s", entries(30), sleep=no_sleep, rng=lambda: 0.5)
    assert send.calls[1] == [i for i in range(30) if i % 3 == 0]
    assert sorted(send.written) == list(range(30))  # each written exactly once
    assert len(send.written) == 30
    assert out.failed == [] and out.retried_entries == 10
    assert out.errors["ProvisionedThroughputExceededException"] == 10


def test_attempts_are_bounded_and_backoff_grows_with_jitter():
    sleeps = []
    send = ScriptedSender(fail=lambda call, e: "InternalFailure")
    policy = RetryPolicy(max_attempts=4, base_delay_s=0.1, max_delay_s=0.25)
    out = publish(send, "s", entries(5), policy=policy, sleep=sleeps.append, rng=lambda: 1.0)
    assert len(send.calls) == 4
    assert sleeps == [0.1, 0.2, 0.25]  # capped exponential (rng=1 shows the ceiling)
    assert out.failed == [0, 1, 2, 3, 4] and out.gave_up_reason == "4 attempts made"


def test_jitter_draws_below_the_ceiling():
    policy = RetryPolicy(base_delay_s=0.1, max_delay_s=2.0)
    assert policy.delay(3, rng=lambda: 0.25) == pytest.approx(0.2)
    assert policy.delay(10, rng=lambda: 0.5) == pytest.approx(1.0)


def test_deadline_stops_retries_before_the_invocation_ends():
    clock = {"left": 10.0}

    def sleep(s):
        clock["left"] -= s

    send = ScriptedSender(fail=lambda call, e: "ProvisionedThroughputExceededException")
    policy = RetryPolicy(
        max_attempts=50, base_delay_s=1.0, max_delay_s=4.0, min_time_for_attempt_s=0.5
    )
    out = publish(
        send,
        "s",
        entries(3),
        policy=policy,
        time_left=lambda: clock["left"],
        sleep=sleep,
        rng=lambda: 1.0,
    )
    assert out.gave_up_reason == "invocation deadline"
    assert clock["left"] >= 0.5  # never slept past the reserve
    assert out.failed == [0, 1, 2]
    assert len(send.calls) < 50


def test_whole_call_errors_retry_the_chunk():
    send = ScriptedSender(raise_on={0: SendError("ReadTimeoutError", "t", retryable=True)})
    out = publish(send, "s", entries(4), sleep=no_sleep)
    assert send.calls == [[0, 1, 2, 3], [0, 1, 2, 3]]
    assert out.failed == [] and out.errors["ReadTimeoutError"] == 1


def test_non_retryable_call_error_stops_and_reports_everything():
    send = ScriptedSender(
        raise_on={0: SendError("ResourceNotFoundException", "no stream", retryable=False)}
    )
    out = publish(send, "s", entries(1200), sleep=no_sleep)
    assert len(send.calls) == 1  # later chunks are not sent to a missing stream
    assert out.failed == list(range(1200))
    assert out.gave_up_reason == "non-retryable error ResourceNotFoundException"


def test_non_retryable_entry_error_is_not_retried_but_reported():
    send = ScriptedSender(fail=lambda call, e: "KMSAccessDeniedException" if e.ref == 1 else None)
    out = publish(send, "s", entries(3), sleep=no_sleep)
    assert out.failed == [1] and len(send.calls) == 1


def test_oversized_entries_are_reported_not_sent():
    send = ScriptedSender()
    items = [Entry(b"x", "a", 0), Entry(b"x" * MAX_BYTES_PER_RECORD, "b", 1)]
    out = publish(send, "s", items, sleep=no_sleep)
    assert send.calls == [[0]] and out.failed == [1] and out.errors["RecordTooLarge"] == 1
