"""PutRecords chunking and the retry of failed entries (Sender = our one-call interface)."""

from __future__ import annotations

import threading
import time

import pytest

from streaming.consumer.bounded_call import CallTimedOut, bounded_call
from streaming.consumer.kinesis_limits import MAX_BYTES_PER_CALL, MAX_BYTES_PER_RECORD
from streaming.consumer.kinesis_sender import entry_results
from streaming.consumer.publish import (
    Entry,
    PartitionKeyInvalid,
    RecordTooLarge,
    RetryPolicy,
    SendError,
    check_entry,
    chunks,
    publish,
)
from tests.support.senders import ScriptedSender


def entries(n, size=10):
    """n entries whose data (a JSON string) is ``size`` bytes, refs 0..n-1."""
    return [Entry(b'"' + b"x" * (size - 2) + b'"', str(i), i) for i in range(n)]


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
        fail=lambda stream, call, e: (
            "ProvisionedThroughputExceededException" if call == 0 and e.ref % 3 == 0 else None
        )
    )
    out = publish(send, "s", entries(30), sleep=no_sleep, rng=lambda: 0.5)
    assert send.calls[1] == ("s", [i for i in range(30) if i % 3 == 0])
    assert sorted(send.refs["s"]) == list(range(30))  # each written exactly once
    assert len(send.refs["s"]) == 30
    assert out.failed == [] and out.retried_entries == 10
    assert out.errors["ProvisionedThroughputExceededException"] == 10


def test_attempts_are_bounded_and_backoff_grows_with_jitter():
    sleeps = []
    send = ScriptedSender(fail=lambda stream, call, e: "InternalFailure")
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

    send = ScriptedSender(fail=lambda stream, call, e: "ProvisionedThroughputExceededException")
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
    assert send.calls == [("s", [0, 1, 2, 3]), ("s", [0, 1, 2, 3])]
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
    send = ScriptedSender(
        fail=lambda stream, call, e: "KMSAccessDeniedException" if e.ref == 1 else None
    )
    out = publish(send, "s", entries(3), sleep=no_sleep)
    assert out.failed == [1] and len(send.calls) == 1


def test_oversized_entries_are_reported_not_sent():
    send = ScriptedSender()
    items = [Entry(b"0", "a", 0), Entry(b"x" * MAX_BYTES_PER_RECORD, "b", 1)]
    out = publish(send, "s", items, sleep=no_sleep)
    assert send.calls == [("s", [0])] and out.failed == [1] and out.errors["RecordTooLarge"] == 1


def test_a_partition_key_that_is_not_valid_unicode_is_reported_not_raised():
    # a lone surrogate cannot be encoded: the request could never be built
    send = ScriptedSender()
    out = publish(send, "s", [Entry(b"0", "\ud800", 0), Entry(b"0", "k", 1)], sleep=no_sleep)
    assert send.calls == [("s", [1])] and out.failed == [0]
    assert out.errors["PartitionKeyInvalid"] == 1


# -- what an entry result means (Kinesis API reference, PutRecordsResultEntry) ----------


def test_moto_and_localstack_results_count_as_written():
    response = {
        "FailedRecordCount": 1,
        "Records": [
            {
                "SequenceNumber": "49590338271490256608559692538361571095921575989136588898",
                "ShardId": "shardId-000000000000",
            },
            {
                "ErrorCode": "ProvisionedThroughputExceededException",
                "ErrorMessage": "Rate exceeded",
            },
        ],
        "EncryptionType": "KMS",
    }
    assert entry_results(response, 2) == [None, "ProvisionedThroughputExceededException"]


@pytest.mark.parametrize(
    "result", [{}, {"ErrorCode": None}, {"SequenceNumber": ""}, {"ErrorCode": ""}]
)
def test_a_result_without_sequence_number_is_not_written(result):
    response = {"FailedRecordCount": 0, "Records": [result]}
    assert entry_results(response, 1) == ["MissingSequenceNumber"]


@pytest.mark.parametrize(
    "response",
    [
        None,
        [],
        {},
        {"Records": None},
        {"Records": 5},
        {"Records": "ab"},
        {"Records": {"0": {}}},
        {"Records": [None]},
        {"Records": [5]},
        {"Records": [[]]},
        {"Records": [{"SequenceNumber": 5}]},
        {"Records": [{"ErrorCode": {"a": 1}}]},
        {"Records": [{"SequenceNumber": "1"}, {"SequenceNumber": "2"}]},  # wrong length
    ],
)
def test_a_response_off_the_documented_shape_is_a_retryable_malformed_response(response):
    with pytest.raises(SendError) as info:
        entry_results(response, 1)
    assert info.value.code == "MalformedResponse" and info.value.retryable


# -- anything else a sender does --------------------------------------------------------


def test_an_unexpected_sender_exception_is_counted_and_its_chunk_reported():
    send = ScriptedSender(raise_on={1: RuntimeError("a bug in the sender")})
    out = publish(send, "s", entries(1200), sleep=no_sleep)
    # the other chunks still went
    assert [len(refs) for _, refs in send.calls] == [500, 500, 200]
    assert out.published == 700 and out.failed == list(range(500, 1000))
    assert out.errors["RuntimeError"] == 1


@pytest.mark.parametrize(
    "codes",
    [[None], [None] * 4, None, "None" * 3, [None, None, 7], {0: None, 1: None, 2: None}],
)
def test_a_result_that_breaks_the_sender_contract_is_reported(codes):
    out = publish(lambda stream, batch: codes, "s", entries(3), sleep=no_sleep)
    assert out.published == 0 and out.failed == [0, 1, 2]
    assert out.errors["SenderContractError"] == 1


# -- the deadline: no call starts without time, none outlives it ------------------------


def test_the_first_call_needs_time_too():
    send = ScriptedSender()
    policy = RetryPolicy(min_time_for_attempt_s=0.5)
    out = publish(send, "s", entries(3), policy=policy, time_left=lambda: 0.2, sleep=no_sleep)
    assert send.calls == [] and out.calls == 0
    assert out.failed == [0, 1, 2] and out.gave_up_reason == "invocation deadline"


class BlockingSender:
    """A PutRecords call that hangs (until released), as a stalled endpoint does."""

    def __init__(self, hold_s: float = 5.0) -> None:
        self.release = threading.Event()
        self.hold_s = hold_s
        self.started = 0
        self._lock = threading.Lock()

    def __call__(self, stream, batch):
        with self._lock:  # calls come from several threads at once
            self.started += 1
        self.release.wait(self.hold_s)
        return [None] * len(batch)


def seconds_to(deadline: float):
    return lambda: deadline - time.monotonic()


def test_a_call_in_flight_is_abandoned_at_the_deadline():
    send = BlockingSender()
    policy = RetryPolicy(min_time_for_attempt_s=0.1)
    started = time.monotonic()
    try:
        out = publish(send, "s", entries(3), policy=policy, time_left=seconds_to(started + 0.4))
    finally:
        send.release.set()
    assert time.monotonic() - started < 0.8  # returned at the deadline, not when the call did
    assert out.published == 0 and out.failed == [0, 1, 2]  # outcome unknown: reported
    assert out.errors["CallTimedOut"] == 1 and out.gave_up_reason == "invocation deadline"


def test_calls_in_flight_at_once_all_end_by_the_shared_deadline():
    send = BlockingSender()
    policy = RetryPolicy(min_time_for_attempt_s=0.1)
    # room for a loaded machine to start the four threads before the last 0.1 s
    deadline = time.monotonic() + 1.0
    outs, ended = [], []

    def one(first):
        items = [Entry(b"x", "k", first + i) for i in range(3)]
        outs.append(publish(send, "s", items, policy=policy, time_left=seconds_to(deadline)))
        ended.append(time.monotonic())

    workers = [threading.Thread(target=one, args=(10 * n,)) for n in range(4)]
    try:
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=5)
    finally:
        send.release.set()
    assert send.started == 4 and len(ended) == 4
    assert max(ended) < deadline + 0.3
    assert sorted(r for o in outs for r in o.failed) == sorted(
        n * 10 + i for n in range(4) for i in range(3)
    )


def test_bounded_call_returns_the_result_or_raises_what_the_call_raised():
    assert bounded_call(lambda: 42, 1.0) == 42

    def boom():
        raise KeyError("x")

    with pytest.raises(KeyError):
        bounded_call(boom, 1.0)


def test_bounded_call_gives_up_on_time_and_leaves_the_call_behind():
    release = threading.Event()
    started = time.monotonic()
    with pytest.raises(CallTimedOut):
        bounded_call(lambda: release.wait(5), 0.2)
    assert time.monotonic() - started < 0.6
    release.set()


@pytest.mark.parametrize("timeout", [0.0, -1.0, float("nan")])
def test_bounded_call_starts_nothing_without_time(timeout):
    ran = []
    with pytest.raises(CallTimedOut):
        bounded_call(lambda: ran.append(1), timeout)
    assert ran == []


def test_bounded_call_without_a_deadline_runs_on_the_callers_thread():
    assert bounded_call(threading.get_ident, float("inf")) == threading.get_ident()


# -- PUBLISH_CONCURRENCY: several PutRecords calls in flight ----------------------------


class SlowKinesis:
    """A thread-safe sender that takes ``delay_s`` per call, fails each entry's first
    send with ``fail_first`` probability, and records how many calls ran at once."""

    def __init__(self, delay_s: float, fail_every: int = 0) -> None:
        import threading

        self.delay_s = delay_s
        self.fail_every = fail_every
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most_in_flight = 0
        self.written: list[int] = []
        self.seen: set[int] = set()

    def __call__(self, stream, entries):
        import time

        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        time.sleep(self.delay_s)
        codes = []
        with self.lock:
            for e in entries:
                first = e.ref not in self.seen
                self.seen.add(e.ref)
                if self.fail_every and first and e.ref % self.fail_every == 0:
                    codes.append("ProvisionedThroughputExceededException")
                else:
                    codes.append(None)
                    self.written.append(e.ref)
            self.in_flight -= 1
        return codes


def test_concurrent_chunks_are_in_flight_at_once_and_nothing_is_lost():
    import time

    from streaming.consumer.publish import ConcurrentChunks

    kinesis = SlowKinesis(0.05, fail_every=7)
    entries = [Entry(b"{}", f"k{i}", i) for i in range(10_000)]  # 20 calls
    started = time.monotonic()
    out = publish(kinesis, "s", entries, run_all=ConcurrentChunks(8), sleep=lambda s: None)
    elapsed = time.monotonic() - started
    assert out.published == 10_000 and out.failed == []
    assert sorted(kinesis.written) == list(range(10_000))  # each once
    assert kinesis.most_in_flight == 8
    assert out.retried_entries == len(range(0, 10_000, 7))  # only the failed ones again
    assert elapsed < 20 * 0.05  # not one after another


def test_with_concurrency_no_call_starts_after_the_deadline():
    """The deadline rule holds for every call in flight: a chunk that waited for a free
    slot and finds too little time left is not sent (it stays unpublished)."""
    import time

    from streaming.consumer.publish import ConcurrentChunks

    kinesis = SlowKinesis(0.3)
    deadline = time.monotonic() + 0.9
    policy = RetryPolicy(min_time_for_attempt_s=0.5)
    out = publish(
        kinesis,
        "s",
        [Entry(b"{}", "k", i) for i in range(4000)],  # 8 calls, 2 at a time
        policy=policy,
        time_left=lambda: deadline - time.monotonic(),
        run_all=ConcurrentChunks(2),
    )
    assert out.published + len(out.failed) == 4000
    # at 0 s and 0.3 s two calls start (0.9 and 0.6 s left); at 0.6 s only 0.3 s is left
    assert out.calls == 4 and out.published == 2000
    assert out.gave_up_reason == "invocation deadline"
    assert time.monotonic() < deadline  # every call in flight ended before it


@pytest.mark.parametrize("concurrent", [False, True])
def test_the_first_calls_go_out_while_a_generator_still_makes_entries(concurrent):
    """Entries given as a generator (the handler scores a batch slice by slice) are
    sent as they come: the first call starts before the last entry is made, and a
    retry still finds the failed entries (the generator is not read twice)."""
    from streaming.consumer.publish import ConcurrentChunks, one_at_a_time

    made: list[int] = []
    made_at_call: list[int] = []

    def entries():
        for i in range(2_000):
            made.append(i)
            yield Entry(b"{}", f"k{i}", i)

    def send(stream, batch):
        made_at_call.append(len(made))
        first = len(made_at_call) == 1
        return ["InternalFailure" if first and e.ref == 3 else None for e in batch]

    run_all = ConcurrentChunks(2) if concurrent else one_at_a_time
    out = publish(send, "s", entries(), run_all=run_all, sleep=lambda s: None)
    assert out.published == 2_000 and out.failed == [] and out.retried_entries == 1
    assert made_at_call[0] < 2_000  # the first call did not wait for the last entry
    assert made_at_call[-1] == 2_000 and len(made_at_call) == 5  # 4 chunks, 1 retry
