"""What an invocation's result means for its batch - pure rules from the Lambda docs.

*Configuring partial batch response with Kinesis Data Streams* (Lambda docs):

* "Lambda treats a batch as a complete success if you return: an empty
  batchItemFailures list, a null batchItemFailures list, an empty
  EventResponse, a null EventResponse";
* "Lambda treats a batch as a complete failure if you return: an empty
  string itemIdentifier, a null itemIdentifier, an itemIdentifier with a bad
  key name" - and, here as in LocalStack, a sequence number that is not in
  the batch;
* otherwise "Lambda retries the batch starting from the lowest sequence
  number reported" (the checkpoint moves to just before it).

Without ``ReportBatchItemFailures`` on the mapping, the response is ignored:
only an error (exception or timeout) fails a batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Success:
    pass


@dataclass(frozen=True)
class PartialFailure:
    """Records before ``first_failed`` are done; retry from it."""

    first_failed: int


@dataclass(frozen=True)
class BatchFailure:
    """The whole batch failed: an error, a timeout, or an invalid partial response."""

    message: str
    function_error: str | None = "Unhandled"  # None: the function returned normally


Outcome = Success | PartialFailure | BatchFailure


def classify(
    response: Any,
    error: BaseException | str | None,
    sequence_numbers: Sequence[str],
    *,
    report_batch_item_failures: bool,
) -> Outcome:
    """Map one invocation's response (or error: an exception, or "Type: message" as an
    invoker reports it) to the batch's outcome."""
    if isinstance(error, str):
        return BatchFailure(error)
    if error is not None:
        return BatchFailure(f"{type(error).__name__}: {error}")
    if not report_batch_item_failures or not isinstance(response, dict):
        return Success()
    failures = response.get("batchItemFailures")
    if not failures:  # missing, null or empty
        return Success()
    if not isinstance(failures, list):
        return BatchFailure("batchItemFailures is not a list", function_error=None)
    position = {seq: i for i, seq in enumerate(sequence_numbers)}
    indexes = []
    for item in failures:
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(ident, str) or not ident or ident not in position:
            return BatchFailure(f"invalid itemIdentifier {ident!r}", function_error=None)
        indexes.append(position[ident])
    return PartialFailure(min(indexes))
