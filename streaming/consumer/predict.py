"""Valid rides -> minutes, with every ride answered or rejected, and the batch's
model-monitoring figures. Pure (the predictor is injected)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from streaming.consumer.features import feature_matrix
from streaming.consumer.records import Reason, Rejection, Ride
from streaming.model.contract import FEATURES


def predict_rides(
    predictor: Any, rides: list[Ride]
) -> tuple[list[Ride], np.ndarray, np.ndarray, list[Rejection]]:
    """Features and minutes for the valid rides: (rides answered, their feature rows,
    their minutes, rejections for the rest).

    Validation bounds every value, so features and the model are total on valid
    rides (the property tests search for counter-examples). Still, one ride must
    never take its batch down: if the vectorised step raises, each ride is tried
    alone and only those that raise are rejected (``prediction_failed``); a
    non-finite answer (NaN is not JSON) is rejected as ``prediction_not_finite``.
    Such a ride's dead letter carries its Kinesis record's data: for a KPL user
    record that is the whole aggregate, whose replay repeats its other rides.
    """
    if not rides:
        return rides, np.empty((0, len(FEATURES))), np.empty(0), []
    unanswered: list[Rejection] = []
    try:
        x = feature_matrix(rides)
        minutes = _minutes(predictor, x)
    except Exception:
        rides, x, minutes, unanswered = _predict_one_by_one(predictor, rides)
    finite = np.isfinite(minutes)
    if not finite.all():
        for ride, value in zip(rides, minutes, strict=True):
            if not math.isfinite(value):
                detail = f"the model answered {value} for this ride; only finite minutes are sent"
                unanswered.append(_unanswered(Reason.PREDICTION_NOT_FINITE, detail, ride))
        rides = [ride for ride, ok in zip(rides, finite, strict=True) if ok]
        x, minutes = x[finite], minutes[finite]
    return rides, x, minutes, unanswered


def _minutes(predictor: Any, x: np.ndarray) -> np.ndarray:
    minutes = np.asarray(predictor.predict(x), dtype=np.float64)
    if minutes.shape != (len(x),):
        raise ValueError(f"the model gave shape {minutes.shape} for {len(x)} rows")
    return minutes


def _predict_one_by_one(
    predictor: Any, rides: list[Ride]
) -> tuple[list[Ride], np.ndarray, np.ndarray, list[Rejection]]:
    answered: list[Ride] = []
    rows: list[np.ndarray] = []
    values: list[float] = []
    unanswered: list[Rejection] = []
    for ride in rides:
        try:
            row = feature_matrix([ride])
            value = float(_minutes(predictor, row)[0])
        except Exception as exc:
            detail = f"the model raised {type(exc).__name__} for this ride: {exc}"[:500]
            unanswered.append(_unanswered(Reason.PREDICTION_FAILED, detail, ride))
            continue
        answered.append(ride)
        rows.append(row)
        values.append(value)
    x = np.concatenate(rows) if rows else np.empty((0, len(FEATURES)))
    return answered, x, np.asarray(values, dtype=np.float64), unanswered


def _unanswered(reason: Reason, detail: str, ride: Ride) -> Rejection:
    return Rejection(reason, detail, ride.ref, ride.ref.record_data)


def batch_monitoring(predictor: Any, x: np.ndarray, minutes: np.ndarray) -> dict[str, float]:
    """Per-batch figures that show drift before users notice it: the prediction
    distribution, and the share of rides whose zones the model has never seen
    (a new zone, or a producer sending wrong ids, moves it long before RMSE).

    Monitoring never fails a batch: a problem here costs the figures, not the rides."""
    if len(minutes) == 0:
        return {}
    try:
        return _monitoring(predictor, x, minutes)
    except Exception:
        return {}


def _monitoring(predictor: Any, x: np.ndarray, minutes: np.ndarray) -> dict[str, float]:
    p50, p90 = np.percentile(minutes, [50, 90])
    out = {
        "PredictedMinutesMean": float(minutes.mean()),
        "PredictedMinutesP50": float(p50),
        "PredictedMinutesP90": float(p90),
        "PredictedMinutesMax": float(minutes.max()),
    }
    unknown = getattr(predictor, "unknown_zones", None)
    if unknown is not None:
        out["UnknownZoneShare"] = float(unknown(x).mean() * 100.0)
    return out
