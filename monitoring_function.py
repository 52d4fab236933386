"""AWS Lambda entry point of the monitoring function: ``monitoring_function.lambda_handler``.

Its mappings (template.yaml) read the predictions, shadow, dead-letter and
ride-finished streams with a tumbling window. Module import is the init: the
settings are read, the database is opened and migrated, and the models'
training references are stored, once per container.
"""

from typing import Any

from streaming.monitoring.build import build_monitoring_service

SERVICE = build_monitoring_service()


def lambda_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """One windowed batch; returns ``{"state": ...}`` for the window's next invocation."""
    return SERVICE.handle(event, context)
