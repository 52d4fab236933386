"""PutRecords in chunks, retrying only the entries that failed, with bounded backoff.

Limits (Kinesis API reference, *PutRecords*; named once in ``kinesis_limits``):
at most 500 records and 5 MiB per request, each record's data plus partition
key at most 1 MiB, partition keys 1-256 characters. A request can succeed
while some entries fail: the response's ``FailedRecordCount`` is non-zero and
those entries carry an ``ErrorCode`` (``ProvisionedThroughputExceededException``
or ``InternalFailure``); "records that were unsuccessfully processed can be
included in subsequent PutRecords requests". So only failed entries are
re-sent - an entry that was written is never sent again by this module - with
exponential backoff and full jitter (AWS Architecture Blog, *Exponential
Backoff and Jitter*), bounded both by an attempt count and by the time the
caller has left (the Lambda invocation's deadline).

Three rules keep one bad answer or one slow call from losing records or
outliving the invocation:

* An entry counts as written only when its result carries a ``SequenceNumber``
  (*PutRecordsResultEntry*: "A record that is successfully added to a stream
  includes SequenceNumber and ShardId in the result"). A response that does
  not have the documented shape is a retryable ``MalformedResponse``.
* Every call, the first included, starts only with enough time left, and runs
  under ``bounded_call``: the caller stops waiting when the time is up, as
  botocore's timeouts cannot bound a call (see ``bounded_call``).
* Any other exception from a sender is counted and its chunk reported; it
  never escapes ``publish`` once some entries may have been written.

Whatever is still unpublished at the end is returned to the caller, which
reports it to Lambda in ``batchItemFailures``: nothing is dropped here. An
entry whose call was abandoned or whose answer was unreadable may have been
written all the same; reporting it means it may be written twice (at least
once, never lost), and the ``source`` key lets consumers drop the repeat.

The boto3 client sits behind ``Sender`` (one PutRecords call), so the retry
logic is plain code and the adapter is tested against a real emulator.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from streaming.consumer.bounded_call import CallBound, CallTimedOut, bounded_call
from streaming.consumer.kinesis_limits import (
    MAX_BYTES_PER_CALL,
    MAX_BYTES_PER_RECORD,
    MAX_PARTITION_KEY_CHARS,
    MAX_RECORDS_PER_CALL,
    is_valid_partition_key,
    partition_key_length,
)

#: Per-entry error codes worth retrying; others (KMS access or state errors)
#: will not clear within one invocation, so those entries go back to Lambda.
#: ``MissingSequenceNumber`` is ours: a result with neither a sequence number
#: nor an error code says nothing about the write, so the entry is sent again.
RETRYABLE_ENTRY_ERRORS = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "InternalFailure",
        "KMSThrottlingException",
        "MissingSequenceNumber",
    }
)

#: ``gave_up_reason`` when the caller's time ran out.
DEADLINE = "invocation deadline"


class RecordTooLarge(ValueError):
    """An entry exceeds the 1 MiB record limit; no request could ever carry it."""


class PartitionKeyInvalid(ValueError):
    """A partition key is empty, longer than 256 characters, or not valid Unicode."""


class SendError(Exception):
    """A whole PutRecords call failed (HTTP error, timeout, connection refused, ...)."""

    def __init__(self, code: str, message: str, *, retryable: bool) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.retryable = retryable


class SenderContractError(Exception):
    """A ``Sender`` returned something other than one ``str | None`` per entry."""


def _utf8_length(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


class Entry:
    """One record to publish; ``ref`` is the caller's handle (e.g. the input index).

    ``size`` is what the 1 MiB / 5 MiB limits count: the data blob plus the partition
    key. It is computed once, here: checking and chunking read it for every entry of
    every attempt (10,000 a batch).

    A plain class with ``__slots__``, not a frozen dataclass: a batch makes 10,000
    of them, and a frozen dataclass's ``__init__`` (one ``object.__setattr__`` per
    field) took three times as long (bench/PUBLISH.md). Treat it as immutable:
    nothing in the publisher assigns to an entry.
    """

    __slots__ = ("data", "partition_key", "ref", "size")

    def __init__(self, data: bytes, partition_key: str, ref: int) -> None:
        self.data = data
        self.partition_key = partition_key
        self.ref = ref
        if type(partition_key) is str and partition_key.isascii():
            self.size = len(data) + len(partition_key)
        elif isinstance(partition_key, str):
            self.size = len(data) + _utf8_length(partition_key)
        else:
            self.size = len(data)  # check_entry refuses it

    def __eq__(self, other: object) -> bool:
        if type(other) is not Entry:
            return NotImplemented
        return (self.data, self.partition_key, self.ref) == (
            other.data,
            other.partition_key,
            other.ref,
        )

    __hash__ = None  # type: ignore[assignment]  # equal by value, and not meant as a key

    def __repr__(self) -> str:
        return f"Entry(data={self.data!r}, partition_key={self.partition_key!r}, ref={self.ref!r})"


class Sender(Protocol):
    """One PutRecords call: per entry, ``None`` if written, else its error code.

    Raises ``SendError`` when the call as a whole failed.
    """

    def __call__(self, stream: str, entries: Sequence[Entry]) -> list[str | None]: ...


@dataclass
class PublishOutcome:
    """What happened to a set of entries."""

    published: int = 0
    #: refs of entries that were not written (the caller must not lose them)
    failed: list[int] = field(default_factory=list)
    calls: int = 0
    #: entries sent again after a failure (the EMF "PublishRetries" metric)
    retried_entries: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    gave_up_reason: str | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """Full-jitter exponential backoff: sleep U(0, min(cap, base * 2**retry))."""

    max_attempts: int = 6
    base_delay_s: float = 0.1
    max_delay_s: float = 2.0
    #: don't start a call (the first one too) with less time left than this
    min_time_for_attempt_s: float = 0.5

    def delay(self, retry: int, rng: Callable[[], float] = random.random) -> float:
        return rng() * min(self.max_delay_s, self.base_delay_s * (2**retry))


# -- how the chunks of one attempt are sent ---------------------------------------

_R = TypeVar("_R")
_A = TypeVar("_A")


class ChunkRunner(Protocol):
    """Runs ``fn`` over ``items`` and returns the results in the items' order.

    ``items`` may be a generator that makes each chunk as it is asked for (the
    handler scores a batch slice by slice): a runner takes each item as soon as it
    is made, so calls start while the next chunks are still being made."""

    def __call__(self, fn: Callable[[_A], _R], items: Iterable[_A]) -> list[_R]: ...


def one_at_a_time(fn: Callable[[_A], _R], items: Iterable[_A]) -> list[_R]:
    """PUBLISH_CONCURRENCY=1: each call after the previous one (the old behaviour)."""
    return [fn(item) for item in items]


class ConcurrentChunks:
    """Up to ``concurrency`` PutRecords calls in flight, on a pool made once (at init).

    Why: on AWS a PutRecords call is a network round trip of tens of milliseconds,
    and a 10,000-record batch needs 20 of them; sent one after another, the
    function mostly waits. boto3 clients are thread safe, and the client's
    connection pool is sized for the calls in flight (``kinesis_client``). Each
    call still runs under ``bounded_call`` (its own thread, the shared deadline),
    so the deadline rule holds for every call in flight.
    """

    def __init__(self, concurrency: int) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.concurrency = concurrency
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="put")

    def __call__(self, fn: Callable[[_A], _R], items: Iterable[_A]) -> list[_R]:
        # Executor.map submits each item as the iterable yields it (in this thread),
        # then waits for the results in order: a chunk is on the wire while the
        # caller's generator makes the next one.
        return list(self._pool.map(fn, items))


# -- entries and chunks ---------------------------------------------------------


def check_entry(entry: Entry) -> None:
    """Raise the named limit error if no PutRecords call could ever accept ``entry``."""
    key = entry.partition_key
    if not is_valid_partition_key(key):
        length = partition_key_length(key) if isinstance(key, str) else None
        raise PartitionKeyInvalid(
            f"partition key must be 1-{MAX_PARTITION_KEY_CHARS} characters of valid "
            f"Unicode, got length {length}"
        )
    if entry.size > MAX_BYTES_PER_RECORD:
        raise RecordTooLarge(f"record of {entry.size} bytes exceeds {MAX_BYTES_PER_RECORD}")


def chunks(entries: Iterable[Entry]) -> Iterator[list[Entry]]:
    """Split into PutRecords-sized requests: <= 500 entries and <= 5 MiB each, in order."""
    chunk: list[Entry] = []
    size = 0
    for entry in entries:
        entry_size = entry.size
        if chunk and (len(chunk) == MAX_RECORDS_PER_CALL or size + entry_size > MAX_BYTES_PER_CALL):
            yield chunk
            chunk, size = [], 0
        chunk.append(entry)
        size += entry_size
    if chunk:
        yield chunk


# -- the retry loop ---------------------------------------------------------------


def publish(
    send: Sender,
    stream: str,
    entries: Iterable[Entry],
    *,
    policy: RetryPolicy | None = None,
    time_left: Callable[[], float] = lambda: float("inf"),
    sleep: Callable[[float], None] = time.sleep,
    rng: Callable[[], float] = random.random,
    call: CallBound = bounded_call,
    run_all: ChunkRunner = one_at_a_time,
) -> PublishOutcome:
    """Publish ``entries`` to ``stream``; return what was and was not written.

    ``time_left()`` is the seconds the caller can still spend (its deadline
    minus a reserve). No call starts with less than
    ``policy.min_time_for_attempt_s`` left, and each call runs under
    ``call(fn, time_left())`` so none outlives it; ``run_all`` sends an
    attempt's chunks one at a time or several at once (``ConcurrentChunks``).
    Never raises for what a sender does: every entry ends up counted in
    ``published`` or listed once in ``failed``.

    ``entries`` may be a generator: the first attempt's chunks are sent as it
    yields them (the handler scores a batch slice by slice, so its first
    PutRecords calls wait on the network while later slices are scored).
    """
    policy = policy or RetryPolicy()
    outcome = PublishOutcome()
    # The first attempt takes the entries as they come: chunks are in flight while
    # a generator still makes the next ones. Retries take the list left over.
    attempt = 1
    pending, stop = _attempt(
        send, stream, _sendable(entries, outcome), outcome, policy, time_left, call, run_all
    )
    while pending and stop is None:
        reason = _back_off(policy, attempt, time_left, sleep, rng)
        if reason is not None:
            outcome.gave_up_reason = reason
            break
        outcome.retried_entries += len(pending)
        attempt += 1
        pending, stop = _attempt(send, stream, pending, outcome, policy, time_left, call, run_all)
    if stop is not None:
        outcome.gave_up_reason = stop
    outcome.failed.extend(e.ref for e in pending)
    return outcome


def _sendable(entries: Iterable[Entry], outcome: PublishOutcome) -> Iterator[Entry]:
    """Entries some request could carry, as they come; the others are reported under
    their limit."""
    for entry in entries:
        key = entry.partition_key
        # the usual entry, checked inline: an ASCII key of 1-256 characters is valid
        # Unicode of that many UTF-16 units (check_entry's rule, without the calls)
        if (
            type(key) is str
            and 0 < len(key) <= MAX_PARTITION_KEY_CHARS
            and key.isascii()
            and entry.size <= MAX_BYTES_PER_RECORD
        ):
            yield entry
            continue
        try:
            check_entry(entry)
        except (RecordTooLarge, PartitionKeyInvalid) as exc:
            outcome.failed.append(entry.ref)
            outcome.errors[type(exc).__name__] += 1
        else:
            yield entry


def _back_off(
    policy: RetryPolicy,
    attempt: int,
    time_left: Callable[[], float],
    sleep: Callable[[float], None],
    rng: Callable[[], float],
) -> str | None:
    """Sleep before attempt ``attempt``; or say why there will be no such attempt."""
    if attempt >= policy.max_attempts:
        return f"{policy.max_attempts} attempts made"
    delay = policy.delay(attempt - 1, rng)
    # written as "not >=" so that a NaN from time_left() also stops
    if not time_left() - delay >= policy.min_time_for_attempt_s:
        return DEADLINE
    sleep(delay)
    return None


@dataclass
class ChunkResult:
    """What one chunk's call did (each call fills its own: calls may run at once)."""

    sent: bool = False
    published: int = 0
    retry: list[Entry] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    #: a reason to send nothing more in this attempt
    stop: str | None = None


class _StopFlag:
    """The first reason to stop, shared by the calls of one attempt."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reason: str | None = None

    def set(self, reason: str | None) -> None:
        if reason is not None:
            with self._lock:
                self.reason = self.reason or reason


def _attempt(
    send: Sender,
    stream: str,
    pending: Iterable[Entry],
    outcome: PublishOutcome,
    policy: RetryPolicy,
    time_left: Callable[[], float],
    call: CallBound,
    run_all: ChunkRunner,
) -> tuple[list[Entry], str | None]:
    """One pass over ``pending`` in chunks: (entries to retry, reason to stop or None).

    The chunks go through ``run_all``: one after another, or several at once. Each
    call checks the time left when it starts (a chunk waiting for a free slot may
    find it gone) and none starts once a stop reason is known."""
    stop = _StopFlag()

    def one(chunk: list[Entry]) -> ChunkResult:
        if stop.reason is None:
            left = time_left()
            if left >= policy.min_time_for_attempt_s:  # the first call too
                result = _send_chunk(send, stream, chunk, call, left)
                stop.set(result.stop)
                return result
            stop.set(DEADLINE)
        return ChunkResult(retry=list(chunk))  # not sent: stays unpublished

    retry: list[Entry] = []
    for result in run_all(one, chunks(pending)):
        outcome.calls += result.sent
        outcome.published += result.published
        outcome.failed.extend(result.failed)
        outcome.errors.update(result.errors)
        retry.extend(result.retry)
    return retry, stop.reason


def _send_chunk(
    send: Sender, stream: str, chunk: list[Entry], call: CallBound, left: float
) -> ChunkResult:
    """Send one chunk; sort its entries into published, to retry, or failed."""
    result = ChunkResult(sent=True)
    try:
        codes = _checked_codes(call(lambda: send(stream, chunk), left), len(chunk))
    except SendError as exc:
        result.errors[exc.code] += 1
        result.retry.extend(chunk)
        # e.g. no such stream: no later call can succeed
        result.stop = None if exc.retryable else f"non-retryable error {exc.code}"
        return result
    except CallTimedOut:
        # The time is up; the call may yet write its entries, but we cannot wait
        # to know: they are reported (a possible duplicate, never a loss).
        result.errors["CallTimedOut"] += 1
        result.retry.extend(chunk)
        result.stop = DEADLINE
        return result
    except Exception as exc:
        # A bug in a sender, or a result we cannot read: some entries may have
        # been written, which ones is unknown. Retrying a bug here would most
        # likely repeat it, so the chunk is reported (Lambda's retry is the
        # retry) and the other chunks go on: what they write is not undone.
        result.errors[type(exc).__name__] += 1
        result.failed.extend(e.ref for e in chunk)
        return result
    for entry, code in zip(chunk, codes, strict=True):
        if code is None:
            result.published += 1
            continue
        result.errors[code] += 1
        if code in RETRYABLE_ENTRY_ERRORS:
            result.retry.append(entry)
        else:
            result.failed.append(entry.ref)
    return result


def _checked_codes(codes: object, expected: int) -> list[str | None]:
    """``codes`` if it keeps the ``Sender`` contract for ``expected`` entries."""
    if not isinstance(codes, list | tuple):
        raise SenderContractError(f"expected a list of codes, got {type(codes).__name__}")
    if len(codes) != expected:
        raise SenderContractError(f"{len(codes)} codes for {expected} entries")
    for code in codes:
        if code is not None and not isinstance(code, str):
            raise SenderContractError(f"a code is a {type(code).__name__}, not str or None")
    return list(codes)
