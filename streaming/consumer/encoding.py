"""One JSON encoding for everything published: compact, UTF-8, strict.

``allow_nan=False``: NaN and Infinity are not JSON (RFC 8259 section 6); the
handler never lets one reach an output, and if one ever did this raises
instead of writing a record other programs cannot read.
"""

from __future__ import annotations

import json
from typing import Any

_escape = json.encoder.encode_basestring_ascii
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)

#: The C encoder ``JSONEncoder.encode`` builds on every call, built once: a batch
#: encodes 10,000 small events, and making the encoder was about a third of each
#: (bench/PUBLISH.md). Same output; no circular-reference check, as the events
#: are plain dicts the handler builds. ``None`` where CPython's ``_json`` is absent.
_C_ENCODE = (
    json.encoder.c_make_encoder(
        None,
        _ENCODER.default,
        json.encoder.encode_basestring_ascii,
        None,
        ":",
        ",",
        False,
        False,
        False,
    )
    if json.encoder.c_make_encoder is not None
    else None
)


def compact_json(value: Any) -> bytes:
    """``value`` as compact UTF-8 JSON bytes (non-ASCII escaped, so always valid UTF-8)."""
    if _C_ENCODE is not None and isinstance(value, dict):
        return "".join(_C_ENCODE(value, 0)).encode("utf-8")
    return _ENCODER.encode(value).encode("utf-8")


_PREDICTION_KEYS = ("model", "version", "prediction", "source")
_INNER_KEYS = ("ride_duration", "ride_id")


class PredictionEncoder:
    """``compact_json`` of a prediction event, byte for byte, by template.

    Why: encoding 10,000 events was the largest CPU cost of publishing a batch
    (about 5 us each through the C encoder, bench/PUBLISH.md). The model name and
    version are the same for every event of a function, so they are escaped once;
    per event only the duration (``float.__repr__``, what ``json`` writes), the ride
    id and the source are formatted. An event of any other shape or value (a
    ``pickupTime`` key, a sub-sequence number, a non-finite float, a ride id that is
    neither int nor str) takes ``compact_json``, so the bytes never differ and NaN
    still raises.
    """

    __slots__ = ("_head", "_model", "_version")

    def __init__(self, model: str, version: str) -> None:
        self._model, self._version = model, version
        self._head = (
            f'{{"model":{_escape(model)},"version":{_escape(version)},'
            '"prediction":{"ride_duration":'
        )

    def __call__(self, event: dict[str, Any]) -> bytes:
        values = self._values(event)
        return self.prediction(*values) if values is not None else compact_json(event)

    def prediction(self, duration: Any, ride_id: Any, source: Any) -> bytes:
        """``compact_json`` of the event ``{"model", "version", "prediction":
        {"ride_duration": duration, "ride_id": ride_id}, "source": source}``, byte for byte.

        For a caller that builds that event itself (the handler): the event's shape is
        known, so only the three values are checked, not the dict around them -
        about half the cost of ``__call__`` per event (bench/PUBLISH.md).
        """
        if (
            type(duration) is float
            and duration - duration == 0.0  # finite: NaN and inf take compact_json, which raises
            and type(source) is dict
            and len(source) == 1
        ):
            event_id = source.get("eventID")
            if type(event_id) is str:
                if type(ride_id) is int:
                    rid = int.__repr__(ride_id)
                elif type(ride_id) is str:
                    rid = _escape(ride_id)
                else:
                    rid = None
                if rid is not None:
                    return (
                        f'{self._head}{float.__repr__(duration)},"ride_id":{rid}}},'
                        f'"source":{{"eventID":{_escape(event_id)}}}}}'
                    ).encode("ascii")
        return compact_json(
            {
                "model": self._model,
                "version": self._version,
                "prediction": {"ride_duration": duration, "ride_id": ride_id},
                "source": source,
            }
        )

    def _values(self, event: dict[str, Any]) -> tuple[Any, Any, Any] | None:
        """The duration, ride id and source of an event shaped as ``prediction`` writes
        it (these keys in this order, this model and version), or None: any other
        event is ``compact_json``'s. ``prediction`` checks the three values."""
        if (
            type(event) is not dict
            or tuple(event) != _PREDICTION_KEYS
            or event["model"] != self._model
            or event["version"] != self._version
        ):
            return None
        inner = event["prediction"]
        if type(inner) is not dict or tuple(inner) != _INNER_KEYS:
            return None
        return inner["ride_duration"], inner["ride_id"], event["source"]
