"""One chunk of rows -> the predicted columns and the rejected columns.

Each row goes through the stream's own validation (``consumer.validate``), features
and prediction step (``consumer.predict.predict_rides``), so the three
deployment modes give the same answer. A JSON line is decoded as the stream
decodes a record (UTF-8 JSON only); like the web service, it may be the
stream's event (``{"ride": {...}, "ride_id": ...}``) or the course's flat body
(``consumer.validate.as_ride_event``; without ``ride_id`` its row number is its
id). A row without ``pickup_datetime`` starts at the run's start (the
invocation time: ``RecordRef.event_epoch``); the ``pickup_time_source`` column
says which time each prediction used.
"""

from __future__ import annotations

import json
from typing import Any

from streaming.consumer.decode import decode_payload
from streaming.consumer.predict import predict_rides
from streaming.consumer.records import InvalidEvent, Reason, RecordRef, Rejection, Ride
from streaming.consumer.validate import as_ride_event, validate_event
from streaming.model import LoadedModel
from streaming.serving.errors import ScoreError, one_line
from streaming.serving.rows import Row

#: The output's location id columns are int64.
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
#: Rejects that are not bad input but a failure of features or the model on a valid ride.
NOT_BAD_INPUT = (Reason.PREDICTION_FAILED.value, Reason.PREDICTION_NOT_FINITE.value)
#: Rejects of a line that is no JSON at all (a file of only these is not JSON lines).
NOT_JSON = (Reason.INVALID_JSON.value, Reason.INVALID_UTF8.value)


def score_rows(
    model: LoadedModel, rows: list[Row], invocation_time: float | None = None
) -> tuple[dict[str, list], dict[str, list]]:
    """Validate, build features and predict one chunk -> (predicted columns, rejected columns).

    A row without ``pickup_datetime`` starts at ``invocation_time`` (the run's start),
    the rule the stream and the web service follow too (``RecordRef.event_epoch``).

    Every row ends in exactly one of the two. A bad value is a reject with its
    reason; features and the model run through the handler's ``predict_rides``,
    which falls back to one ride at a time if the chunk raises, so one ride can
    only ever cost itself (``prediction_failed`` / ``prediction_not_finite``).
    """
    rides: list[Ride] = []
    rejections: list[Rejection] = []
    for r in rows:
        item = _validated(r, RecordRef.standalone(r.source_row, invocation_time=invocation_time))
        if isinstance(item, Ride):
            rides.append(item)
        else:
            rejections.append(item)
    rides, too_large = fit_output(rides)
    rides, x, minutes, unanswered = predict_rides(model.predictor, rides)
    rejections += too_large + unanswered
    if too_large or unanswered:
        rejections.sort(key=lambda b: b.ref.index)
    actual = {r.source_row: r.actual_duration for r in rows}
    good: dict[str, list] = {
        "ride_id": [str(r.ride_id) for r in rides],
        "predicted_duration": minutes.tolist(),
        "model": [model.name] * len(rides),
        "model_version": [model.version] * len(rides),
        "PULocationID": [r.pu_location_id for r in rides],
        "DOLocationID": [r.do_location_id for r in rides],
        "trip_distance": [r.trip_distance for r in rides],
        "pickup_hour": x[:, 3].astype("int8").tolist(),
        "pickup_weekday": x[:, 4].astype("int8").tolist(),
        "pickup_time_source": [pickup_time_source(r) for r in rides],
        "actual_duration": [actual[r.ref.index] for r in rides],
        "source_row": [r.ref.index for r in rides],
    }
    payload_of = {r.source_row: r.payload for r in rows}
    bad: dict[str, list] = {
        "source_row": [b.ref.index for b in rejections],
        "reason": [b.reason.value for b in rejections],
        "detail": [_text(b.detail) for b in rejections],
        "record": [_as_text(payload_of[b.ref.index]) for b in rejections],
    }
    return good, bad


def _validated(row: Row, ref: RecordRef) -> Ride | Rejection:
    """One row -> a ride, or its rejection. A JSON line is decoded as the stream decodes
    a record, and may be the course's flat body (as the web service takes it)."""
    if row.problem is not None:
        return Rejection(row.problem[0], row.problem[1], ref, None)
    try:
        if not isinstance(row.payload, bytes):
            return validate_event(row.payload, ref)
        try:
            payload = decode_payload(row.payload)
        except InvalidEvent as exc:  # invalid_utf8, invalid_json
            return Rejection(exc.reason, exc.detail, ref, None)
        return validate_event(as_ride_event(payload, row.source_row), ref)
    except Exception as exc:
        raise ScoreError(
            f"row {row.source_row}: validation raised {type(exc).__name__}: {one_line(exc)}; "
            "a bug in the validator, not bad input: please report it with this row"
        ) from exc


def pickup_time_source(ride: Ride) -> str:
    """Which time a prediction used: ``pickup_datetime``, else the invocation time (a
    file row has no arrival time), as the stream's ``pickupTime`` and serve's
    ``pickup_time`` say."""
    if ride.pickup_datetime is not None:
        return "pickup_datetime"
    return "invocation" if ride.ref.uses_invocation_time else "arrival"


def fit_output(rides: list[Ride]) -> tuple[list[Ride], list[Rejection]]:
    """Rides whose location ids fit the output's int64 columns, and rejects for the rest.

    Validation bounds ids far below 2**63; this keeps the writer safe whatever it
    lets through (cheap: a min and a max per chunk)."""
    if not rides:
        return rides, []
    ids = [r.pu_location_id for r in rides] + [r.do_location_id for r in rides]
    if min(ids) >= _INT64_MIN and max(ids) <= _INT64_MAX:
        return rides, []
    fit: list[Ride] = []
    rejected: list[Rejection] = []
    for ride in rides:
        for name, value in (
            ("PULocationID", ride.pu_location_id),
            ("DOLocationID", ride.do_location_id),
        ):
            if not _INT64_MIN <= value <= _INT64_MAX:
                detail = f"ride.{name} is not a zone id: {value.bit_length()} bits, over int64"
                rejected.append(Rejection(Reason.INVALID_LOCATION_ID, detail, ride.ref, None))
                break
        else:
            fit.append(ride)
    return fit, rejected


def _text(value: Any) -> str:
    """``value`` as a string parquet can store (valid UTF-8: lone surrogates escaped)."""
    text = str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _as_text(payload: Any) -> str:
    if isinstance(payload, bytes):
        return payload.decode("utf-8", "replace")
    return json.dumps(payload, default=str)


def schemas() -> tuple[Any, Any]:
    import pyarrow as pa

    predicted = pa.schema(
        [
            ("ride_id", pa.string()),
            ("predicted_duration", pa.float64()),
            ("model", pa.string()),
            ("model_version", pa.string()),
            ("PULocationID", pa.int64()),
            ("DOLocationID", pa.int64()),
            ("trip_distance", pa.float64()),
            ("pickup_hour", pa.int8()),
            ("pickup_weekday", pa.int8()),
            ("pickup_time_source", pa.string()),
            ("actual_duration", pa.float64()),
            ("source_row", pa.int64()),
        ]
    )
    rejected = pa.schema(
        [
            ("source_row", pa.int64()),
            ("reason", pa.string()),
            ("detail", pa.string()),
            ("record", pa.string()),
        ]
    )
    return predicted, rejected
