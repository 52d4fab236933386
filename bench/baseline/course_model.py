"""Baseline: the course's streaming consumer, algorithm for algorithm.

Per record: base64-decode, ``json.loads``, build the feature dict
(``PU_DO`` + ``trip_distance``), predict that one dict with a scikit-learn
DictVectorizer + LinearRegression pipeline trained on 2021-01, and
``put_record`` that one prediction. The model is unpickled at import, as the
course's MLflow pyfunc load does (without MLflow itself, which would only add
to the baseline's start-up). Written for the side-by-side benchmarks; not
production code.
"""

from __future__ import annotations

import base64
import json
import os
import pickle

import boto3
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline


def train(trips) -> object:
    """Fit the course model on a TLC month (cleaned as for our model)."""
    dicts = [
        prepare_features(r)
        for r in trips[["PULocationID", "DOLocationID", "trip_distance"]].to_dict("records")
    ]
    return make_pipeline(DictVectorizer(), LinearRegression()).fit(dicts, trips["duration"])


def prepare_features(ride: dict) -> dict:
    return {
        "PU_DO": f"{ride['PULocationID']}_{ride['DOLocationID']}",
        "trip_distance": ride["trip_distance"],
    }


class ModelService:
    def __init__(self, model, model_version: str, callbacks=()):
        self.model = model
        self.model_version = model_version
        self.callbacks = list(callbacks)

    def predict(self, features: dict) -> float:
        return float(self.model.predict([features])[0])

    def lambda_handler(self, event: dict) -> dict:
        predictions = []
        for record in event["Records"]:
            ride_event = json.loads(base64.b64decode(record["kinesis"]["data"]).decode("utf-8"))
            prediction_event = {
                "model": "ride_duration_prediction_model",
                "version": self.model_version,
                "prediction": {
                    "ride_duration": self.predict(prepare_features(ride_event["ride"])),
                    "ride_id": ride_event["ride_id"],
                },
            }
            for callback in self.callbacks:
                callback(prediction_event)
            predictions.append(prediction_event)
        return {"predictions": predictions}


class KinesisCallback:
    def __init__(self, client, stream: str):
        self.client = client
        self.stream = stream

    def put_record(self, prediction_event: dict) -> None:
        self.client.put_record(
            StreamName=self.stream,
            Data=json.dumps(prediction_event),
            PartitionKey=str(prediction_event["prediction"]["ride_id"]),
        )


def init(model_path: str, stream: str, run_id: str, test_run: bool) -> ModelService:
    with open(model_path, "rb") as fh:
        model = pickle.load(fh)  # the benchmark's own file, as MLflow unpickles
    callbacks = []
    if not test_run:
        client = boto3.client("kinesis", endpoint_url=os.getenv("KINESIS_ENDPOINT_URL"))
        callbacks.append(KinesisCallback(client, stream).put_record)
    return ModelService(model, run_id, callbacks)
