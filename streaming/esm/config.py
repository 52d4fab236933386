"""The event source mapping's settings, with the ranges CreateEventSourceMapping takes.

Names follow the API (*Lambda event source mappings: Kinesis parameters*);
each range is the API reference's. A few are widened for local tests only and
say so (a record age under AWS's 60 s minimum). Settings that exist for other
event sources but not for Kinesis are refused by name, with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streaming.esm.lanes import MAX_PARALLELIZATION
from streaming.esm.reader import StartingPosition

MAX_BATCH_SIZE = 10_000
#: MaximumBatchingWindowInSeconds: 0-300.
MAX_BATCHING_WINDOW_S = 300
#: TumblingWindowInSeconds: 0-900 ("The duration in seconds of a processing window
#: for DynamoDB and Kinesis Streams event sources").
MAX_TUMBLING_WINDOW_S = 900

#: CreateEventSourceMapping parameters that a Kinesis mapping does not take, and why
#: (the API reference names the sources each applies to).
NOT_FOR_KINESIS = {
    "ProvisionedPollerConfig": "provisioned mode (provisioned pollers) is for Amazon MSK, "
    "self-managed Apache Kafka and Amazon SQS event sources only; a Kinesis mapping's "
    "throughput is set by its shards and ParallelizationFactor",
    "ScalingConfig": "MaximumConcurrency (ScalingConfig) is for Amazon SQS event sources "
    "only; a Kinesis mapping's concurrency is shards x ParallelizationFactor (cap it with "
    "the function's reserved concurrency)",
}


@dataclass(frozen=True)
class MappingConfig:
    """The event source mapping's settings (names as in CreateEventSourceMapping)."""

    batch_size: int = 100
    batching_window_s: float = 0.0
    starting_position: StartingPosition = field(default_factory=StartingPosition)
    max_retries: int = -1  # -1: until the record expires (AWS default)
    max_record_age_s: float = -1  # -1: no limit (AWS default)
    bisect_on_error: bool = False
    #: AWS default is off; on here because this project's handler relies on it.
    report_batch_item_failures: bool = True
    #: batches processed at once per shard, lanes split by partition key (1-10)
    parallelization_factor: int = 1
    #: TumblingWindowInSeconds: 0 = no window (the default)
    tumbling_window_s: int = 0
    #: FilterCriteria, parsed (``filtering.FilterCriteria``); ``None``: every record
    filter_criteria: Any = None
    #: the function's reserved concurrency: invocations past it are throttled
    #: (``None``: unreserved; 0: the function cannot be invoked at all)
    reserved_concurrency: int | None = None
    timeout_s: float = 60.0
    function_name: str = "ride-duration-prediction-local"
    region: str = "us-east-1"
    poll_interval_s: float = 1.0
    retry_base_delay_s: float = 0.5
    retry_max_delay_s: float = 8.0
    #: how often to look for new (child) shards
    shard_refresh_s: float = 10.0

    def __post_init__(self) -> None:
        for problem in _problems(self):
            raise ValueError(problem)

    @property
    def function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:000000000000:function:{self.function_name}"


def _problems(cfg: MappingConfig) -> list[str]:
    """Every setting out of its range, worded with the setting's name first."""
    checks = [
        (1 <= cfg.batch_size <= MAX_BATCH_SIZE, f"batch size must be 1-{MAX_BATCH_SIZE}"),
        (
            0 <= cfg.batching_window_s <= MAX_BATCHING_WINDOW_S,
            f"batching window must be 0-{MAX_BATCHING_WINDOW_S} s",
        ),
        (-1 <= cfg.max_retries <= 10_000, "max retries must be -1 (infinite) or 0-10000"),
        (
            cfg.max_record_age_s == -1 or 0 < cfg.max_record_age_s <= 604_800,
            "max record age must be -1 (infinite) or up to 604800 s",
        ),
        (
            1 <= cfg.parallelization_factor <= MAX_PARALLELIZATION,
            f"parallelization factor must be 1-{MAX_PARALLELIZATION}",
        ),
        (
            0 <= cfg.tumbling_window_s <= MAX_TUMBLING_WINDOW_S,
            f"tumbling window must be 0-{MAX_TUMBLING_WINDOW_S} s",
        ),
        (
            cfg.reserved_concurrency is None or 0 <= cfg.reserved_concurrency <= 1000,
            "reserved concurrency must be 0-1000",
        ),
        (
            not (cfg.tumbling_window_s and cfg.parallelization_factor > 1),
            "tumbling window with a parallelization factor over 1 is not emulated: the "
            "docs keep one state per shard and do not say how concurrent batches share it; "
            "use parallelization factor 1 with a tumbling window",
        ),
        (cfg.timeout_s > 0, "timeout must be positive"),
        (cfg.poll_interval_s > 0, "poll interval must be positive"),
    ]
    return [message for ok, message in checks if not ok]
