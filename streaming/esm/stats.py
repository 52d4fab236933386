"""What a run of the local mapping counted, named as Lambda's metrics name them.

*Monitoring event source mappings* (Lambda docs): with
``MetricsConfig: {"Metrics": ["EventCount"]}`` a mapping reports
``PolledEventCount`` (records read from the stream), ``FilteredOutEventCount``
(dropped by FilterCriteria), ``InvokedEventCount`` (records Lambda tried to
invoke with, retries and throttles included), ``FailedInvokeEventCount``
(records of invocations that failed, and "any event with a non-empty
BatchItemFailures in the response"), ``DroppedEventCount`` (discarded: retries
exhausted or too old, "excludes events that you send to an on-failure
destination") and ``OnFailureDestinationDeliveredEventCount``. ``IteratorAge`` (a function
metric for stream sources) is "the age of the last record in the event" when
the event source mapping sent the batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RunStats:
    invocations: int = 0
    records_invoked: int = 0  # records delivered, re-deliveries included
    records_done: int = 0  # records whose batch finished successfully
    partial_failures: int = 0
    function_errors: int = 0
    bisections: int = 0
    discarded_records: int = 0
    discarded_batches: int = 0
    #: discarded records by condition (RetryAttemptsExhausted, RecordAgeExceeded)
    discarded_by_condition: dict[str, int] = field(default_factory=dict)
    get_records_calls: int = 0
    read_errors: int = 0
    shards_finished: int = 0
    #: records GetRecords returned (PolledEventCount)
    polled_events: int = 0
    #: records that matched no filter (FilteredOutEventCount)
    filtered_out_events: int = 0
    #: records Lambda tried to invoke with: invocations made, and throttled ones
    #: (InvokedEventCount: "may count multiple times for the same polled event")
    invoked_events: int = 0
    #: records of invocations that failed (error, timeout, invalid response, throttle)
    #: or whose response listed batchItemFailures (FailedInvokeEventCount)
    failed_invoke_events: int = 0
    #: records whose metadata reached the on-failure destination
    on_failure_delivered_events: int = 0
    #: discarded batches whose metadata could not be delivered (DestinationDeliveryFailures)
    destination_delivery_failures: int = 0
    #: invocations not made: past the reserved concurrency
    throttles: int = 0
    #: IteratorAge of the last batch sent, and the highest (milliseconds)
    iterator_age_ms: float = 0.0
    iterator_age_ms_max: float = 0.0

    def count_invocation(self, records: int, *, failed: bool) -> None:
        """An invocation made; ``failed``: it failed, or reported batchItemFailures."""
        self.invocations += 1
        self.records_invoked += records
        self.invoked_events += records
        if failed:
            self.failed_invoke_events += records

    def count_throttle(self, records: int) -> None:
        """An invocation tried and throttled: invoked and failed, not delivered."""
        self.throttles += 1
        self.invoked_events += records
        self.failed_invoke_events += records

    def count_discard(self, condition: str, records: int) -> None:
        self.discarded_records += records
        self.discarded_batches += 1
        self.discarded_by_condition[condition] = (
            self.discarded_by_condition.get(condition, 0) + records
        )

    def observe_iterator_age(self, age_ms: float) -> None:
        self.iterator_age_ms = age_ms
        self.iterator_age_ms_max = max(self.iterator_age_ms_max, age_ms)

    def event_counts(self) -> dict[str, int]:
        """The EventCount metrics, by their CloudWatch names."""
        return {
            "PolledEventCount": self.polled_events,
            "FilteredOutEventCount": self.filtered_out_events,
            "InvokedEventCount": self.invoked_events,
            "FailedInvokeEventCount": self.failed_invoke_events,
            # "Dropped events also excludes events that you send to an on-failure
            # destination" (a delivery that failed counts as dropped)
            "DroppedEventCount": self.discarded_records - self.on_failure_delivered_events,
            "OnFailureDestinationDeliveredEventCount": self.on_failure_delivered_events,
        }
