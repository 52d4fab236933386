"""Powertools Logger and Metrics, set up once per process.

Structured JSON logs and CloudWatch embedded-metric-format (EMF) metrics are
written to stdout, where Lambda ships them to CloudWatch: no API call, no
latency added to the batch. Names can be overridden with Powertools' own
``POWERTOOLS_SERVICE_NAME`` and ``POWERTOOLS_METRICS_NAMESPACE``.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

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
