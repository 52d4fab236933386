"""CloudWatch embedded metric format: one JSON line a log line, metrics extracted by
CloudWatch with no API call (*Specification: Embedded metric format*, CloudWatch docs).

The monitoring function writes a handful of lines per window, each with its own
dimensions (the role of the model), which is why it is written here rather than
through Powertools' per-invocation ``Metrics`` (one dimension set per flush).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping


def emf_line(
    namespace: str,
    dimensions: Mapping[str, str],
    metrics: Mapping[str, tuple[float, str]],
    timestamp_ms: int,
) -> str:
    """One EMF document: ``metrics`` is name -> (value, unit). A value that is not
    finite is left out (EMF values must be numbers; a NaN would reject the line)."""
    values = {k: float(v) for k, (v, _) in metrics.items() if math.isfinite(v)}
    document: dict[str, object] = {
        "_aws": {
            "Timestamp": int(timestamp_ms),
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [list(dimensions)],
                    "Metrics": [
                        {"Name": k, "Unit": unit} for k, (_, unit) in metrics.items() if k in values
                    ],
                }
            ],
        },
        **dict(dimensions),
        **values,
    }
    return json.dumps(document, separators=(",", ":"))
