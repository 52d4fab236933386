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
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

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


@dataclass(frozen=True, slots=True)
class Entry:
    """One record to publish; ``ref`` is the caller's handle (e.g. the input index)."""

    data: bytes
    partition_key: str
    ref: int

    @property
    def size(self) -> int:
        # The 1 MiB / 5 MiB limits count the data blob plus the partition key.
        return len(self.data) + len(self.partition_key.encode("utf-8"))


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


# -- bounding one call in time --------------------------------------------------


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


def chunks(entries: Sequence[Entry]) -> Iterator[list[Entry]]:
    """Split into PutRecords-sized requests: <= 500 entries and <= 5 MiB each, in order."""
    chunk: list[Entry] = []
    size = 0
    for entry in entries:
        if chunk and (len(chunk) == MAX_RECORDS_PER_CALL or size + entry.size > MAX_BYTES_PER_CALL):
            yield chunk
            chunk, size = [], 0
        chunk.append(entry)
        size += entry.size
    if chunk:
        yield chunk


# -- the retry loop ---------------------------------------------------------------


def publish(
    send: Sender,
    stream: str,
    entries: Sequence[Entry],
    *,
    policy: RetryPolicy | None = None,
    time_left: Callable[[], float] = lambda: float("inf"),
    sleep: Callable[[float], None] = time.sleep,
    rng: Callable[[], float] = random.random,
    call: CallBound = bounded_call,
) -> PublishOutcome:
    """Publish ``entries`` to ``stream``; return what was and was not written.

    ``time_left()`` is the seconds the caller can still spend (its deadline
    minus a reserve). No call starts with less than
    ``policy.min_time_for_attempt_s`` left, and each call runs under
    ``call(fn, time_left())`` so none outlives it. Never raises for what a
    sender does: every entry ends up counted in ``published`` or listed once
    in ``failed``.
    """
    policy = policy or RetryPolicy()
    outcome = PublishOutcome()
    pending = _sendable(entries, outcome)
    attempt = 0
    while pending:
        if attempt > 0:
            reason = _back_off(policy, attempt, time_left, sleep, rng)
            if reason is not None:
                outcome.gave_up_reason = reason
                break
            outcome.retried_entries += len(pending)
        attempt += 1
        pending, stop = _attempt(send, stream, pending, outcome, policy, time_left, call)
        if stop is not None:
            outcome.gave_up_reason = stop
            break
    outcome.failed.extend(e.ref for e in pending)
    return outcome


def _sendable(entries: Sequence[Entry], outcome: PublishOutcome) -> list[Entry]:
    """Entries some request could carry; the others are reported under their limit."""
    pending: list[Entry] = []
    for entry in entries:
        try:
            check_entry(entry)
        except (RecordTooLarge, PartitionKeyInvalid) as exc:
            outcome.failed.append(entry.ref)
            outcome.errors[type(exc).__name__] += 1
        else:
            pending.append(entry)
    return pending


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


def _attempt(
    send: Sender,
    stream: str,
    pending: list[Entry],
    outcome: PublishOutcome,
    policy: RetryPolicy,
    time_left: Callable[[], float],
    call: CallBound,
) -> tuple[list[Entry], str | None]:
    """One pass over ``pending`` in chunks: (entries to retry, reason to stop or None)."""
    retry: list[Entry] = []
    stop: str | None = None
    for chunk in chunks(pending):
        if stop is None:
            left = time_left()
            if not left >= policy.min_time_for_attempt_s:  # the first call too
                stop = DEADLINE
        if stop is not None:  # not sent: stays unpublished
            retry.extend(chunk)
            continue
        outcome.calls += 1
        stop = _send_chunk(send, stream, chunk, outcome, retry, call, left)
    return retry, stop


def _send_chunk(
    send: Sender,
    stream: str,
    chunk: list[Entry],
    outcome: PublishOutcome,
    retry: list[Entry],
    call: CallBound,
    left: float,
) -> str | None:
    """Send one chunk; sort its entries into published, ``retry`` or failed.

    Returns a reason to stop sending, or None.
    """
    try:
        codes = _checked_codes(call(lambda: send(stream, chunk), left), len(chunk))
    except SendError as exc:
        outcome.errors[exc.code] += 1
        retry.extend(chunk)
        # e.g. no such stream: no later call can succeed
        return None if exc.retryable else f"non-retryable error {exc.code}"
    except CallTimedOut:
        # The time is up; the call may yet write its entries, but we cannot wait
        # to know: they are reported (a possible duplicate, never a loss).
        outcome.errors["CallTimedOut"] += 1
        retry.extend(chunk)
        return DEADLINE
    except Exception as exc:
        # A bug in a sender, or a result we cannot read: some entries may have
        # been written, which ones is unknown. Retrying a bug here would most
        # likely repeat it, so the chunk is reported (Lambda's retry is the
        # retry) and the other chunks go on: what they write is not undone.
        outcome.errors[type(exc).__name__] += 1
        outcome.failed.extend(e.ref for e in chunk)
        return None
    for entry, code in zip(chunk, codes, strict=True):
        if code is None:
            outcome.published += 1
            continue
        outcome.errors[code] += 1
        if code in RETRYABLE_ENTRY_ERRORS:
            retry.append(entry)
        else:
            outcome.failed.append(entry.ref)
    return None


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
