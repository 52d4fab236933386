"""What one invocation did, typed; ``BatchResult.response()`` is Lambda's answer.

Like Powertools' batch processor, the handler returns a typed result and the
one-call facade turns it into the partial-batch response
(``{"batchItemFailures": [{"itemIdentifier": "<sequenceNumber>"}]}``, Lambda
docs, *Configuring partial batch response with Kinesis*).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streaming.consumer.publish import PublishOutcome
from streaming.consumer.records import RecordRef, Rejection

#: Lambda's synchronous response payload limit is 6 MB; the ``predictions``
#: list is dropped from the response (not from the stream) above this.
MAX_RESPONSE_BYTES = 5_500_000


@dataclass
class ShadowResult:
    """What the shadow model did in one batch (never part of Lambda's answer)."""

    #: why the shadow is off (``None``: it ran, or tried to)
    disabled: str | None = None
    scored: int = 0
    published: int = 0
    #: shadow predictions not written (counted; the champion's records are unaffected)
    unpublished: int = 0
    #: the shadow model raised on this batch
    error: str | None = None
    outcome: PublishOutcome | None = None


@dataclass
class BatchResult:
    """What one invocation did; ``response()`` is what Lambda gets back."""

    predictions: list[dict[str, Any]]
    rejections: list[Rejection]
    failed_refs: list[RecordRef]
    test_run: bool
    publish_outcomes: dict[str, PublishOutcome] = field(default_factory=dict)
    not_dead_lettered: int = 0
    unreportable: int = 0
    #: the invocation began with less time than one PutRecords call needs
    #: (PUBLISH_TIME_RESERVE_MS too close to the function's timeout)
    no_time_to_publish: bool = False
    duration_ms: float = 0.0
    #: model monitoring figures of the batch (metric name -> value)
    monitoring: dict[str, float] = field(default_factory=dict)
    #: the shadow model's part, when one is configured
    shadow: ShadowResult | None = None

    def response(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "batchItemFailures": [
                {"itemIdentifier": ref.sequence_number}
                for ref in self.failed_refs
                if ref.sequence_number is not None
            ],
        }
        if _estimated_size(self.predictions) <= MAX_RESPONSE_BYTES:
            out["predictions"] = self.predictions
        else:
            out["predictions"] = []
            out["predictionsOmitted"] = len(self.predictions)
        if self.test_run:
            out["rejected"] = [
                {"source": r.ref.source(), "reason": r.reason.value, "detail": r.detail}
                for r in self.rejections
            ]
        return out


def _estimated_size(predictions: list[dict[str, Any]]) -> int:
    """Upper-bound the JSON size cheaply (no encoding on the hot path)."""
    total = 0
    for p in predictions:
        total += 200 + len(str(p["prediction"]["ride_id"])) + len(p["source"]["eventID"] or "")
    return total
