"""Logs and metrics: Powertools Logger and Metrics set up once per process, and
``record_batch``, which turns one batch's result into metrics and log lines.

Structured JSON logs and CloudWatch embedded-metric-format (EMF) metrics are
written to stdout, where Lambda ships them to CloudWatch: no API call, no
latency added to the batch. Names can be overridden with Powertools' own
``POWERTOOLS_SERVICE_NAME`` and ``POWERTOOLS_METRICS_NAMESPACE``.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from streaming.consumer.batch_result import BatchResult

SERVICE_NAME = "ride-duration-prediction"
METRICS_NAMESPACE = "RideDurationPrediction"

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or SERVICE_NAME)
metrics = Metrics(
    namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or METRICS_NAMESPACE,
    service=os.environ.get("POWERTOOLS_SERVICE_NAME") or SERVICE_NAME,
)

COUNT = MetricUnit.Count
MILLISECONDS = MetricUnit.Milliseconds
PERCENT = MetricUnit.Percent
NO_UNIT = MetricUnit.NoUnit


# -- one batch -> metrics and log lines ---------------------------------------------


def record_batch(
    result: BatchResult,
    *,
    logger: Any,
    metrics: Any,
    model_version: str,
    publish_time_reserve_s: float,
) -> None:
    """Emit the batch's metrics (EMF) and log lines; either sink may be ``None``."""
    if metrics is not None:
        _add_metrics(metrics, result)
    if logger is not None:
        _log_rejections(logger, result)
        _log_problems(logger, result, publish_time_reserve_s)
        _log_summary(logger, result, model_version)


def _dead_lettered(result: BatchResult) -> int:
    outcome = result.publish_outcomes.get("dead_letters")
    return outcome.published if outcome is not None else 0


def _retries(result: BatchResult) -> int:
    return sum(o.retried_entries for o in result.publish_outcomes.values())


def _add_metrics(metrics: Any, result: BatchResult) -> None:
    for name, value in (
        ("RecordsIn", len(result.predictions) + len(result.rejections)),
        ("Predicted", len(result.predictions)),
        ("Rejected", len(result.rejections)),
        ("DeadLettered", _dead_lettered(result)),
        ("RejectedNotDeadLettered", result.not_dead_lettered),
        ("PublishRetries", _retries(result)),
        ("Unpublished", len(result.failed_refs)),
    ):
        metrics.add_metric(name=name, unit=COUNT, value=value)
    metrics.add_metric(name="BatchLatency", unit=MILLISECONDS, value=result.duration_ms)
    if result.shadow is not None:
        shadow = result.shadow
        metrics.add_metric(name="ShadowDisabled", unit=COUNT, value=int(bool(shadow.disabled)))
        metrics.add_metric(name="ShadowPredictions", unit=COUNT, value=shadow.published)
        metrics.add_metric(name="ShadowUnpublished", unit=COUNT, value=shadow.unpublished)
    for name, value in result.monitoring.items():
        unit = PERCENT if name == "UnknownZoneShare" else NO_UNIT
        metrics.add_metric(name=name, unit=unit, value=value)


def _log_rejections(log: Any, result: BatchResult) -> None:
    unlettered = result.not_dead_lettered and not result.test_run
    for rej in result.rejections:
        fields = {
            "reason": rej.reason.value,
            "detail": rej.detail,
            "source": rej.ref.source(),
            "sequenceNumber": rej.ref.sequence_number,
        }
        if unlettered:
            log.error(
                "rejected record not dead-lettered (DEAD_LETTER_STREAM_NAME unset)", extra=fields
            )
        else:
            log.warning("record rejected", extra=fields)


def _log_problems(log: Any, result: BatchResult, reserve_s: float) -> None:
    for stream, outcome in result.publish_outcomes.items():
        if outcome.failed:
            log.error(
                "records not published; reported in batchItemFailures for Lambda to retry",
                extra={
                    "output": stream,
                    "unpublished": len(outcome.failed),
                    "errors": dict(outcome.errors),
                    "gave_up": outcome.gave_up_reason,
                },
            )
    if result.no_time_to_publish:
        log.error(
            "no time to publish: the invocation started with less time left than "
            "PUBLISH_TIME_RESERVE_MS plus one call; raise the function timeout or "
            "lower PUBLISH_TIME_RESERVE_MS",
            extra={"reserve_s": reserve_s},
        )
    _log_shadow(log, result)
    if result.unreportable:
        log.error(
            "failed records without a sequence number cannot be reported",
            extra={"count": result.unreportable},
        )


def _log_shadow(log: Any, result: BatchResult) -> None:
    shadow = result.shadow
    if shadow is None or shadow.disabled:
        return  # a disabled shadow was logged once, at init; ShadowDisabled says so each batch
    if shadow.error:
        log.error(
            "the shadow model failed on this batch; the champion's predictions are unaffected",
            extra={"error": shadow.error},
        )
    if shadow.unpublished:
        outcome = shadow.outcome
        log.warning(
            "shadow predictions not published (counted in ShadowUnpublished, never retried "
            "by Lambda)",
            extra={
                "unpublished": shadow.unpublished,
                "errors": dict(outcome.errors) if outcome else {},
                "gave_up": outcome.gave_up_reason if outcome else None,
            },
        )


def _log_summary(log: Any, result: BatchResult, model_version: str) -> None:
    log.info(
        "batch processed",
        extra={
            "records": len(result.predictions) + len(result.rejections),
            "predicted": len(result.predictions),
            "rejected": len(result.rejections),
            "dead_lettered": _dead_lettered(result),
            "unpublished": len(result.failed_refs),
            "publish_retries": _retries(result),
            "duration_ms": round(result.duration_ms, 2),
            "test_run": result.test_run,
            "model_version": model_version,
        },
    )
