"""AWS Lambda entry point of the scheduled batch job: ``batch_function.lambda_handler``.

EventBridge Scheduler invokes it daily (template.yaml); it scores yesterday's
rides (New York) from the database into ``ride_duration_predictions``. Module
import is the init: settings read, database opened and migrated, model loaded.
"""

from typing import Any

from streaming.batch.function import build_batch_function

FUNCTION = build_batch_function()


def lambda_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """One day scored; returns its figures (the run is also in ``batch_runs``)."""
    return FUNCTION.handle(event, context)
