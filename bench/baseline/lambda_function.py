"""The baseline's Lambda entry (the course's lambda_function.py, in its shape)."""

import os

from bench.baseline import course_model

MODEL_SERVICE = course_model.init(
    model_path=os.environ["BASELINE_MODEL_PATH"],
    stream=os.getenv("PREDICTIONS_STREAM_NAME", "ride_predictions"),
    run_id=os.getenv("RUN_ID", "baseline"),
    test_run=os.getenv("TEST_RUN", "False") == "True",
)


def lambda_handler(event, context=None):
    return MODEL_SERVICE.lambda_handler(event)
