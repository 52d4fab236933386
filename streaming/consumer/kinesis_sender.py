"""The boto3 adapter behind ``publish.Sender``: one PutRecords call, every outcome classified.

The only module of the hot path that talks to Kinesis. Whatever the call does -
an error answer, a network failure, a body botocore cannot parse, a result off
the documented shape - it returns one code per entry or raises ``SendError``;
the retry logic in ``publish`` is plain code that never sees boto3.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from streaming.consumer.publish import Entry, Sender, SendError

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
    codes: list[str | None] = []
    for i, result in enumerate(results):
        # the usual answer, checked inline (10,000 entries a batch); anything else
        # takes the full rules of _entry_code
        if type(result) is dict and result.get("ErrorCode") is None:
            sequence = result.get("SequenceNumber")
            if type(sequence) is str and sequence:
                codes.append(None)
                continue
        codes.append(_entry_code(i, result, malformed))
    return codes


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
