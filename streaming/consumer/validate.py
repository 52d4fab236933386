"""A decoded ride event -> a ``Ride`` with every value bounded, or the first problem.

Pure. Bounds are applied here, where values are read, once: whatever passes is
safe for the features and the model (no float overflow, no date outside what
UTC and New York time can represent, a partition key Kinesis accepts). The
same rules and the same wording answer a Kinesis record, a file row and an
HTTP body.
"""

from __future__ import annotations

import math
import reprlib
from datetime import datetime
from typing import Any

from streaming.consumer.kinesis_limits import (
    MAX_PARTITION_KEY_CHARS,
    is_valid_partition_key,
    partition_key_length,
)
from streaming.consumer.records import InvalidEvent, Reason, RecordRef, Rejection, Ride

#: ISO 8601 timestamps are short; anything longer is not one.
MAX_DATETIME_CHARS = 64
#: TLC zone ids are small positive integers (1-265 today). Ids in this range that
#: the model has never seen are valid (predicted as an unknown zone and counted in
#: ``UnknownZoneShare``); zero, negative and larger ids are not zone ids at all,
#: and an unbounded JSON integer would not even fit the float64 feature matrix.
MIN_LOCATION_ID = 1
MAX_LOCATION_ID = 2**31 - 1
#: The year of ``pickup_datetime`` as written. Two years of margin on each side of
#: ``datetime``'s 1-9999 keep every offset (fromisoformat allows up to +-23:59) and
#: New York's own offset inside the range, so the instant exists both in UTC and in
#: New York local time: the features can always be computed.
MIN_PICKUP_YEAR = 2
MAX_PICKUP_YEAR = 9998


def as_ride_event(payload: Any, default_ride_id: int | str) -> Any:
    """The course web service's flat body (``{"PULocationID", "DOLocationID",
    "trip_distance", ...}``) as the stream's event shape; any other value unchanged.

    The web service and batch scoring accept both shapes; the stream keeps its v1
    event contract (a flat body there is ``invalid_ride``). A flat body without
    ``ride_id`` gets ``default_ride_id``.
    """
    if type(payload) is dict and "ride" not in payload:
        return {"ride": payload, "ride_id": payload.get("ride_id", default_ride_id)}
    return payload


def validate_event(payload: Any, ref: RecordRef) -> Ride | Rejection:
    """Validate an already-decoded ride event (batch files, HTTP): the handler's rules."""
    try:
        return validate_ride(payload, ref)
    except InvalidEvent as exc:
        return Rejection(exc.reason, exc.detail, ref, None)


def validate_ride(payload: Any, ref: RecordRef) -> Ride:
    """Check the ride event's shape and types; raise ``InvalidEvent`` with the first problem.

    The common case - every field present with its usual type - is checked in
    one pass; anything else goes through the field-by-field checks below, which
    say exactly what is wrong.
    """
    if type(payload) is dict:
        ride = payload.get("ride")
        ride_id = payload.get("ride_id")
        if type(ride) is dict:
            pu = ride.get("PULocationID")
            do = ride.get("DOLocationID")
            distance = ride.get("trip_distance")
            pickup = ride.get("pickup_datetime")
            if (
                type(pu) is int
                and type(do) is int
                and MIN_LOCATION_ID <= pu <= MAX_LOCATION_ID
                and MIN_LOCATION_ID <= do <= MAX_LOCATION_ID
                and type(distance) is float
                and 0.0 <= distance < math.inf
                and (
                    (type(ride_id) is int and -_MAX_ID < ride_id < _MAX_ID)
                    or (
                        type(ride_id) is str
                        and 0 < len(ride_id) <= MAX_PARTITION_KEY_CHARS
                        and ride_id.isascii()
                    )
                )
                and (pickup is None or (type(pickup) is str and len(pickup) <= 32))
            ):
                moment = None
                if pickup is not None:
                    try:
                        moment = datetime.fromisoformat(pickup)
                    except ValueError:
                        moment = _INVALID_TIME
                    else:
                        if not MIN_PICKUP_YEAR <= moment.year <= MAX_PICKUP_YEAR:
                            moment = _INVALID_TIME
                if moment is not _INVALID_TIME and (
                    moment is not None or ref.event_epoch is not None
                ):
                    return Ride(ride_id, pu, do, distance, moment, ref)
    return _validate_slowly(payload, ref)


#: |ride_id| below this has at most 255 digits, so str(ride_id) fits a partition key
_MAX_ID = 10**255
_INVALID_TIME = object()


def _validate_slowly(payload: Any, ref: RecordRef) -> Ride:
    if not isinstance(payload, dict):
        raise InvalidEvent(
            Reason.NOT_AN_OBJECT, f"event must be a JSON object, got {_json_type(payload)}"
        )
    ride = payload.get("ride")
    if not isinstance(ride, dict):
        what = "missing" if ride is None else f"a {_json_type(ride)}"
        raise InvalidEvent(Reason.INVALID_RIDE, f"'ride' must be an object, got {what}")
    pu = _location_id(ride, "PULocationID")
    do = _location_id(ride, "DOLocationID")
    distance = _trip_distance(ride)
    ride_id = _ride_id(payload)
    pickup = _pickup_datetime(ride)
    if pickup is None and ref.event_epoch is None:
        raise InvalidEvent(
            Reason.MISSING_EVENT_TIME,
            "ride.pickup_datetime is missing and the event carries no arrival time to use "
            "instead; send pickup_datetime",
        )
    return Ride(ride_id, pu, do, distance, pickup, ref)


def _location_id(ride: dict[str, Any], field: str) -> int:
    value = ride.get(field)
    if type(value) is int:  # bool is a subclass of int: `type is` excludes it
        if MIN_LOCATION_ID <= value <= MAX_LOCATION_ID:
            return value
        raise InvalidEvent(
            Reason.INVALID_LOCATION_ID,
            f"ride.{field} must be an integer from {MIN_LOCATION_ID} to {MAX_LOCATION_ID}, "
            f"got {_short(value)}",
        )
    if value is None and field not in ride:
        raise InvalidEvent(Reason.INVALID_LOCATION_ID, f"ride.{field} is missing")
    raise InvalidEvent(
        Reason.INVALID_LOCATION_ID,
        f"ride.{field} must be an integer, got {_json_type(value)} {_short(value)}",
    )


def _trip_distance(ride: dict[str, Any]) -> float:
    value = ride.get("trip_distance")
    if type(value) not in (int, float):
        what = "missing" if "trip_distance" not in ride else _json_type(value)
        raise InvalidEvent(
            Reason.INVALID_TRIP_DISTANCE, f"ride.trip_distance must be a number, got {what}"
        )
    try:
        distance = float(value)
    except OverflowError:  # an integer too large for a float
        distance = math.inf
    if not math.isfinite(distance) or distance < 0:
        raise InvalidEvent(
            Reason.INVALID_TRIP_DISTANCE,
            f"ride.trip_distance must be finite and >= 0, got {_short(value)}",
        )
    return distance


def _ride_id(payload: dict[str, Any]) -> int | str:
    value = payload.get("ride_id")
    if type(value) is int:
        if len(str(value)) > MAX_PARTITION_KEY_CHARS:
            raise InvalidEvent(
                Reason.INVALID_RIDE_ID,
                f"ride_id has more than {MAX_PARTITION_KEY_CHARS} digits",
            )
        return value
    if isinstance(value, str):
        if not value:
            raise InvalidEvent(Reason.INVALID_RIDE_ID, "ride_id must not be empty")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidEvent(
                Reason.INVALID_RIDE_ID, "ride_id contains a lone surrogate (not Unicode)"
            ) from None
        if not is_valid_partition_key(value):
            raise InvalidEvent(
                Reason.INVALID_RIDE_ID,
                f"ride_id is {partition_key_length(value)} characters (UTF-16); a Kinesis "
                f"partition key allows {MAX_PARTITION_KEY_CHARS}",
            )
        return value
    what = "missing" if "ride_id" not in payload else _json_type(value)
    raise InvalidEvent(
        Reason.INVALID_RIDE_ID, f"ride_id must be an integer or a non-empty string, got {what}"
    )


def _pickup_datetime(ride: dict[str, Any]) -> datetime | None:
    value = ride.get("pickup_datetime")
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_DATETIME_CHARS:
        raise InvalidEvent(
            Reason.INVALID_PICKUP_DATETIME,
            f"ride.pickup_datetime must be an ISO 8601 string, got {_json_type(value)}",
        )
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidEvent(
            Reason.INVALID_PICKUP_DATETIME,
            f"ride.pickup_datetime {_short(value)} is not ISO 8601",
        ) from None
    if not MIN_PICKUP_YEAR <= moment.year <= MAX_PICKUP_YEAR:
        raise InvalidEvent(
            Reason.INVALID_PICKUP_DATETIME,
            f"ride.pickup_datetime {_short(value)} is outside years "
            f"{MIN_PICKUP_YEAR}-{MAX_PICKUP_YEAR}",
        )
    return moment


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _bounded_repr() -> reprlib.Repr:
    """``repr`` that stops early: a value nested just under the JSON parser's depth
    limit parses, and the built-in ``repr`` of it then overflows the stack (found
    on Python 3.11, depth 983-992): a detail must never take its batch down."""
    bounded = reprlib.Repr()
    bounded.maxlevel = 3
    bounded.maxstring = bounded.maxother = bounded.maxlong = 40
    bounded.maxlist = bounded.maxtuple = bounded.maxdict = bounded.maxset = 4
    return bounded


_REPR = _bounded_repr()


def _short(value: Any, limit: int = 40) -> str:
    try:
        text = _REPR.repr(value)
    except Exception:  # whatever a value's repr does, the detail still gets written
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."
