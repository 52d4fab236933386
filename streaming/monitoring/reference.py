"""The training reference of predicted minutes, kept in a model's ``metadata.json``.

Drift is measured against what the model predicted on the rows it was fitted on:
training writes that histogram (``drift.EDGES`` bins) under
``metadata["monitoring"]["reference"]``, so the reference travels with the
model version it belongs to, and the monitoring function needs no training data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from streaming.monitoring.drift import EDGES, Histogram

DESCRIPTION = "predicted minutes on the rows the model was fitted on"


def reference_section(
    minutes: Iterable[float], known_zones: Mapping[str, Iterable[int]] | None = None
) -> dict[str, Any]:
    """What training writes under ``metadata["monitoring"]``: the reference histogram,
    and the zones the model has a category for (``PULocationID``/``DOLocationID``:
    sorted ids), so the monitoring function can count rides in unknown zones
    without loading the weights."""
    histogram = Histogram.of(minutes)
    section: dict[str, Any] = {
        "reference": {
            "what": DESCRIPTION,
            "edges": list(EDGES),
            "counts": list(histogram.counts),
        }
    }
    if known_zones is not None:
        section["known_zones"] = {k: sorted(int(z) for z in v) for k, v in known_zones.items()}
    return section


def known_zones_of(metadata: Mapping[str, Any]) -> tuple[frozenset[int], frozenset[int]] | None:
    """(pickup, drop-off) zone ids the model knows, or None when the metadata has none."""
    section = metadata.get("monitoring")
    zones = section.get("known_zones") if isinstance(section, Mapping) else None
    if not isinstance(zones, Mapping):
        return None
    out = []
    for key in ("PULocationID", "DOLocationID"):
        ids = zones.get(key)
        if not isinstance(ids, list) or not all(type(z) is int for z in ids):
            return None
        out.append(frozenset(ids))
    return out[0], out[1]


def reference_of(metadata: Mapping[str, Any]) -> Histogram | None:
    """The model's reference histogram, or None when it has none (a model trained
    before monitoring, or edges other than this code's: no drift is then reported,
    rather than a wrong figure)."""
    section = metadata.get("monitoring")
    reference = section.get("reference") if isinstance(section, Mapping) else None
    if not isinstance(reference, Mapping) or reference.get("edges") != list(EDGES):
        return None
    counts = reference.get("counts")
    if not isinstance(counts, list):
        return None
    try:
        histogram = Histogram.from_counts(counts)
    except ValueError:
        return None
    return histogram if histogram.total else None
