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

import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from streaming.kinesis_limits import (
    MAX_BYTES_PER_CALL,
    MAX_BYTES_PER_RECORD,
    MAX_PARTITION_KEY_CHARS,
    MAX_RECORDS_PER_CALL,
    is_valid_partition_key,
    partition_key_length,
)

__all__ = [
    "DEADLINE",
    "MAX_BYTES_PER_CALL",
    "MAX_BYTES_PER_RECORD",
    "MAX_PARTITION_KEY_CHARS",
    "MAX_RECORDS_PER_CALL",
    "RETRYABLE_ENTRY_ERRORS",
    "CallBound",
    "CallTimedOut",
    "Entry",
    "PartitionKeyInvalid",
    "PublishOutcome",
    "RecordTooLarge",
    "RetryPolicy",
    "SendError",
    "Sender",
    "SenderContractError",
    "bounded_call",
    "check_entry",
    "chunks",
    "entry_results",
    "kinesis_sender",
    "publish",
]

_T = TypeVar("_T")

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


class CallTimedOut(Exception):
    """A bounded call did not return in its time: abandoned, its outcome unknown."""


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


class CallBound(Protocol):
    """Runs ``fn`` and returns its result, or raises ``CallTimedOut`` after ``timeout_s``.

    ``bounded_call`` is the implementation; tests inject a fake clock's version.
    """

    def __call__(self, fn: Callable[[], _T], timeout_s: float) -> _T: ...


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


def bounded_call(fn: Callable[[], _T], timeout_s: float) -> _T:
    """Return ``fn()``, or raise ``CallTimedOut`` once ``timeout_s`` seconds have passed.

    Why: botocore cannot bound a call. ``connect_timeout`` and ``read_timeout``
    are set per client (``botocore.config.Config``), and ``read_timeout`` is
    "the time in seconds till a timeout exception is thrown when attempting to
    read from a connection": it bounds each socket read, not the call, so a
    server that answers a byte at a time, a connect timeout followed by a read
    timeout, or DNS, can hold one PutRecords call past any deadline. A Lambda
    function that outlives its timeout fails the whole batch, so the caller
    must regain control on time whatever the network does.

    How: ``fn`` runs on its own daemon thread and the caller waits at most
    ``timeout_s``. Python cannot interrupt a thread blocked on a socket, so a
    late call is *abandoned*, not cancelled: it may still write its records.
    The caller must treat them as not written (report them; a duplicate is
    possible, a loss is not). The abandoned thread ends when botocore's own
    socket timeouts fire; in Lambda it is frozen with the execution
    environment after the handler returns and its late result is discarded.

    Several calls in flight: every call has its own thread and its own wait, so
    nothing is shared but what ``fn`` uses (boto3 clients are thread safe; size
    ``max_pool_connections`` for the calls in flight plus abandoned ones). Give
    each call the time left to one shared deadline, read when it starts, and
    they all end by that deadline.

    A timeout of zero or less (or NaN) starts nothing: no call may start that
    cannot finish. An infinite timeout (no deadline: the CLI tools) runs ``fn``
    on the caller's thread, as there is nothing to bound.
    """
    if not timeout_s > 0:
        raise CallTimedOut(f"no time left ({timeout_s!r} s): call not started")
    if math.isinf(timeout_s):
        return fn()
    done = threading.Event()
    box: list[tuple[bool, Any]] = []

    def run() -> None:
        try:
            box.append((True, fn()))
        except BaseException as exc:  # handed to the waiting caller below
            box.append((False, exc))
        finally:
            done.set()

    threading.Thread(target=run, name="bounded-call", daemon=True).start()
    if not done.wait(min(timeout_s, threading.TIMEOUT_MAX)):
        raise CallTimedOut(f"no answer within {timeout_s:.3f} s: abandoned, outcome unknown")
    ok, value = box[0]
    if ok:
        return value
    raise value


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


# -- the boto3 adapter ---------------------------------------------------------------

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
    """Adapt a boto3 Kinesis client to ``Sender``, classifying whole-call failures.

    Every exception of the call becomes a ``SendError``: botocore's response
    parser itself raises ``AttributeError``/``TypeError``/``UnicodeDecodeError``
    (neither ``ClientError`` nor ``BotoCoreError``) on some bodies, e.g. ``null``
    or ``{"Records": 5}``; those are a retryable ``MalformedResponse``.
    """
    from botocore.exceptions import BotoCoreError, ClientError

    def send(stream: str, entries: Sequence[Entry]) -> list[str | None]:
        try:
            response = client.put_records(  # type: ignore[attr-defined]
                StreamName=stream,
                Records=[{"Data": e.data, "PartitionKey": e.partition_key} for e in entries],
            )
        except ClientError as exc:
            raise _client_error(exc) from exc
        except BotoCoreError as exc:  # connection refused/reset, timeouts, ...
            raise SendError(type(exc).__name__, str(exc), retryable=True) from exc
        except Exception as exc:
            raise _unexpected(exc) from exc
        return entry_results(response, len(entries))

    return send


def entry_results(response: object, expected: int) -> list[str | None]:
    """Per-entry codes from a parsed PutRecords response for ``expected`` records.

    Kinesis API reference, *PutRecords*: "The response Records array always
    includes the same number of records as the request array", in request
    order; *PutRecordsResultEntry*: a written record "includes SequenceNumber
    and ShardId in the result", a failed one "includes ErrorCode and
    ErrorMessage". So an entry is written only with a non-empty
    ``SequenceNumber`` and no ``ErrorCode``; one with neither says nothing and
    is ``MissingSequenceNumber`` (retried). ``FailedRecordCount`` is not used:
    the entries are the authority, and an entry without a sequence number
    fails whatever the count says. Anything off the documented shape raises a
    retryable ``SendError("MalformedResponse")``: such an answer is not trusted
    for any entry.
    """

    def malformed(why: str) -> SendError:
        return SendError("MalformedResponse", why, retryable=True)

    if not isinstance(response, dict):
        raise malformed(f"response is a {type(response).__name__}, not an object")
    results = response.get("Records")
    if not isinstance(results, list):
        raise malformed(f"Records is a {type(results).__name__}, not a list")
    if len(results) != expected:
        raise malformed(f"{len(results)} results for {expected} records")
    return [_entry_code(i, r, malformed) for i, r in enumerate(results)]


def _entry_code(index: int, result: object, malformed: Callable[[str], SendError]) -> str | None:
    """One result: None if written, else its error code (see ``entry_results``)."""
    if not isinstance(result, dict):
        raise malformed(f"result {index} is a {type(result).__name__}, not an object")
    error = result.get("ErrorCode")
    sequence = result.get("SequenceNumber")
    if not isinstance(error, str | None) or not isinstance(sequence, str | None):
        raise malformed(f"result {index} has a non-string ErrorCode or SequenceNumber")
    if error:
        return error
    return None if sequence else "MissingSequenceNumber"


def _client_error(exc: Exception) -> SendError:
    """A ``ClientError`` (the service answered with an error) as a ``SendError``."""
    response = getattr(exc, "response", None)
    response = response if isinstance(response, dict) else {}
    error = response.get("Error")
    error = error if isinstance(error, dict) else {}
    metadata = response.get("ResponseMetadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    code = str(error.get("Code") or "ClientError")
    status = metadata.get("HTTPStatusCode")
    status = status if isinstance(status, int) else 0
    retryable = code in _RETRYABLE_CALL_ERRORS or status >= 500
    return SendError(code, str(error.get("Message") or exc), retryable=retryable)


def _unexpected(exc: Exception) -> SendError:
    """Any other exception of the call: retryable, named after where it came from.

    Our entries are checked before the call and botocore validates the request
    (``ParamValidationError`` is a ``BotoCoreError``), and botocore wraps
    network failures in ``BotoCoreError`` too. So an exception of another type
    raised inside botocore (or the ``json`` module it parses with) is botocore
    failing on the one input it does not make, the answer: ``MalformedResponse``
    (e.g. a body of ``null`` fails in ``botocore.endpoint``, ``{"Records": 5}``
    in ``botocore.parsers``, ``{"__type": {}}`` in ``botocore.model``).
    Anything else is ``UnexpectedError``. Both are retried: the next answer
    may be well formed, and attempts are bounded.
    """
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    module = str(tb.tb_frame.f_globals.get("__name__", "")) if tb is not None else ""
    reader = module.startswith("botocore.") or module.split(".")[0] == "json"
    code = "MalformedResponse" if reader else "UnexpectedError"
    return SendError(code, f"{type(exc).__name__}: {exc}", retryable=True)
