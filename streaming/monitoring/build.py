"""The monitoring function's init: settings, database (migrated), model references.

What runs once per container, like the prediction function's ``build_service``:
a bad setting, a database that cannot be reached or a model that cannot be read
fails the init with one message naming it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from streaming.model.contract import read_metadata
from streaming.model.fetch import fetch_model
from streaming.monitoring import store
from streaming.monitoring.drift import Histogram
from streaming.monitoring.reference import known_zones_of, reference_of
from streaming.monitoring.secret import open_database
from streaming.monitoring.service import MonitoringService
from streaming.monitoring.settings import MonitoringSettings


def build_monitoring_service(
    env: Mapping[str, str] | None = None, *, emit: Callable[[str], None] = print
) -> MonitoringService:
    """``emit``: where the EMF lines go (stdout on Lambda, where CloudWatch reads them)."""
    settings = MonitoringSettings.from_env(env)
    engine = open_database(settings.db_url, settings.db_secret_arn)
    references, known_zones = load_models(settings.models)
    with engine.begin() as conn:
        for version, histogram in references.items():
            store.write_reference(conn, version, histogram.counts)
    return MonitoringService(
        engine, settings, references=references, known_zones=known_zones, emit=emit
    )


def load_models(
    models: tuple[tuple[str, str | None, str], ...],
) -> tuple[dict[str, Histogram], tuple[frozenset[int], frozenset[int]] | None]:
    """version label -> training reference, for the models that have one; and the
    zones the champion knows. Only metadata is read."""
    out: dict[str, Histogram] = {}
    known = None
    for location, label, role in models:
        directory = fetch_model(location) if location.startswith("s3://") else Path(location)
        metadata = read_metadata(directory, location)
        histogram = reference_of(metadata)
        if histogram is not None:
            out[label or str(metadata.get("version"))] = histogram
        if role == "champion":
            known = known_zones_of(metadata)
    return out, known
