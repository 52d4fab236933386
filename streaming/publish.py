"""PutRecords in chunks, retrying only the entries that failed, with bounded backoff.

Limits (Kinesis API reference, *PutRecords*): at most 500 records and 5 MiB
per request, each record's data plus partition key at most 1 MiB, partition
keys 1-256 characters. A request can succeed while some entries fail: the
response's ``FailedRecordCount`` is non-zero and those entries carry an
``ErrorCode`` (``ProvisionedThroughputExceededException`` or
``InternalFailure``); "records that were unsuccessfully processed can be
included in subsequent PutRecords requests". So only failed entries are
re-sent - an entry that was written is never sent again by this module - with
exponential backoff and full jitter (AWS Architecture Blog, *Exponential
Backoff and Jitter*), bounded both by an attempt count and by the time the
caller has left (the Lambda invocation's deadline).

Whatever is still unpublished at the end is returned to the caller, which
reports it to Lambda in ``batchItemFailures``: nothing is dropped here.

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

MAX_RECORDS_PER_CALL = 500
MAX_BYTES_PER_CALL = 5 * 1024 * 1024
MAX_BYTES_PER_RECORD = 1024 * 1024
MAX_PARTITION_KEY_CHARS = 256

#: Per-entry error codes worth retrying; others (KMS access or state errors)
#: will not clear within one invocation, so those entries go back to Lambda.
RETRYABLE_ENTRY_ERRORS = frozenset(
    {"ProvisionedThroughputExceededException", "InternalFailure", "KMSThrottlingException"}
)


class RecordTooLarge(ValueError):
    """An entry exceeds the 1 MiB record limit; no request could ever carry it."""


class PartitionKeyInvalid(ValueError):
    """A partition key is empty or longer than 256 characters."""


class SendError(Exception):
    """A whole PutRecords call failed (HTTP error, timeout, connection refused, ...)."""

    def __init__(self, code: str, message: str, *, retryable: bool) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.retryable = retryable


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
    #: don't start another attempt with less time left than this
    min_time_for_attempt_s: float = 0.5

    def delay(self, retry: int, rng: Callable[[], float] = random.random) -> float:
        return rng() * min(self.max_delay_s, self.base_delay_s * (2**retry))


def check_entry(entry: Entry) -> None:
    """Raise the named limit error if no PutRecords call could ever accept ``entry``."""
    if not 1 <= len(entry.partition_key) <= MAX_PARTITION_KEY_CHARS:
        raise PartitionKeyInvalid(
            f"partition key must be 1-{MAX_PARTITION_KEY_CHARS} chars, "
            f"got {len(entry.partition_key)}"
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


def publish(
    send: Sender,
    stream: str,
    entries: Sequence[Entry],
    *,
    policy: RetryPolicy | None = None,
    time_left: Callable[[], float] = lambda: float("inf"),
    sleep: Callable[[float], None] = time.sleep,
    rng: Callable[[], float] = random.random,
) -> PublishOutcome:
    """Publish ``entries`` to ``stream``; return what was and was not written.

    ``time_left()`` is the seconds the caller can still spend (its deadline
    minus a reserve); no attempt starts when it runs short.
    """
    policy = policy or RetryPolicy()
    outcome = PublishOutcome()
    pending: list[Entry] = []
    for entry in entries:
        try:
            check_entry(entry)
        except (RecordTooLarge, PartitionKeyInvalid) as exc:
            outcome.failed.append(entry.ref)
            outcome.errors[type(exc).__name__] += 1
        else:
            pending.append(entry)

    attempt = 0
    while pending:
        if attempt > 0:
            if attempt >= policy.max_attempts:
                outcome.gave_up_reason = f"{policy.max_attempts} attempts made"
                break
            delay = policy.delay(attempt - 1, rng)
            if time_left() - delay < policy.min_time_for_attempt_s:
                outcome.gave_up_reason = "invocation deadline"
                break
            sleep(delay)
            outcome.retried_entries += len(pending)
        attempt += 1
        retry: list[Entry] = []
        stop: str | None = None
        for chunk in chunks(pending):
            if stop is None and outcome.calls > 0 and time_left() < policy.min_time_for_attempt_s:
                stop = "invocation deadline"
            if stop is not None:  # not sent: stays unpublished
                retry.extend(chunk)
                continue
            outcome.calls += 1
            try:
                codes = send(stream, chunk)
            except SendError as exc:
                outcome.errors[exc.code] += 1
                retry.extend(chunk)
                if not exc.retryable:  # e.g. no such stream: no later call can succeed
                    stop = f"non-retryable error {exc.code}"
                continue
            for entry, code in zip(chunk, codes, strict=True):
                if code is None:
                    outcome.published += 1
                    continue
                outcome.errors[code] += 1
                if code in RETRYABLE_ENTRY_ERRORS:
                    retry.append(entry)
                else:
                    outcome.failed.append(entry.ref)
        pending = retry
        if stop is not None:
            outcome.gave_up_reason = stop
            break
    outcome.failed.extend(e.ref for e in pending)
    return outcome


#: Whole-call error codes that a later attempt may clear.
_RETRYABLE_CALL_ERRORS = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "LimitExceededException",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "KMSThrottlingException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)


def kinesis_sender(client: object) -> Sender:
    """Adapt a boto3 Kinesis client to ``Sender``, classifying whole-call failures."""
    from botocore.exceptions import BotoCoreError, ClientError

    def send(stream: str, entries: Sequence[Entry]) -> list[str | None]:
        try:
            response = client.put_records(  # type: ignore[attr-defined]
                StreamName=stream,
                Records=[{"Data": e.data, "PartitionKey": e.partition_key} for e in entries],
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", "ClientError"))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            retryable = code in _RETRYABLE_CALL_ERRORS or int(status or 0) >= 500
            raise SendError(code, str(error.get("Message", exc)), retryable=retryable) from exc
        except BotoCoreError as exc:  # connection refused/reset, timeouts, ...
            raise SendError(type(exc).__name__, str(exc), retryable=True) from exc
        results = response.get("Records", [])
        if len(results) != len(entries):
            raise SendError(
                "MalformedResponse",
                f"{len(results)} results for {len(entries)} records",
                retryable=True,
            )
        return [r.get("ErrorCode") if "ErrorCode" in r else None for r in results]

    return send
