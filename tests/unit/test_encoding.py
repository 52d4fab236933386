"""The prediction event's template encoder writes exactly what ``compact_json`` writes."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streaming.consumer.encoding import PredictionEncoder, compact_json

MODEL, VERSION = "ride_duration_prediction_model", "run-5b1c"

text = st.text(max_size=40)  # any Unicode, surrogates included
ride_ids = st.one_of(
    st.integers(), st.integers(min_value=2**63, max_value=10**300), text, st.none(), st.booleans()
)
durations = st.one_of(st.floats(), st.integers(), st.none())
sources = st.one_of(
    st.fixed_dictionaries({"eventID": text}),
    st.fixed_dictionaries({"eventID": text, "subSequenceNumber": st.integers(0, 2**40)}),
    st.fixed_dictionaries({"eventID": st.none()}),
)


def event(model=MODEL, version=VERSION, duration=12.8, ride_id=256, source=None, **extra):
    out = {
        "model": model,
        "version": version,
        "prediction": {"ride_duration": duration, "ride_id": ride_id},
        "source": source if source is not None else {"eventID": "shardId-000000000000:4959"},
    }
    out.update(extra)
    return out


def same_as_compact_json(encode: PredictionEncoder, value: dict) -> None:
    try:
        expected = compact_json(value)
    except ValueError:  # NaN, infinity, an int too long for str()
        with pytest.raises(ValueError):
            encode(value)
        return
    assert encode(value) == expected


@given(
    model=st.one_of(st.just(MODEL), text),
    version=st.one_of(st.just(VERSION), text),
    duration=durations,
    ride_id=ride_ids,
    source=sources,
    pickup=st.booleans(),
)
def test_every_event_encodes_as_compact_json_does(
    model, version, duration, ride_id, source, pickup
):
    encode = PredictionEncoder(MODEL, VERSION)
    extra = {"pickupTime": {"source": "invocation", "epoch": 1.5}} if pickup else {}
    same_as_compact_json(encode, event(model, version, duration, ride_id, source, **extra))


@given(model=text, version=text, duration=st.floats(allow_nan=False, allow_infinity=False))
def test_any_model_name_and_version_are_escaped_as_json_does(model, version, duration):
    encode = PredictionEncoder(model, version)
    value = event(model, version, duration)
    assert encode._values(value) is not None  # the template, not the fallback
    assert encode(value) == compact_json(value)


def test_the_usual_event_takes_the_template(monkeypatch):
    """If the template stopped matching the handler's events, it would be dead code
    and the batch would pay for the checks on top of ``compact_json``."""
    from streaming.consumer import encoding

    def no_fallback(value):
        raise AssertionError(f"fell back for {value!r}")

    encode = PredictionEncoder(MODEL, VERSION)
    expected = [compact_json(event(ride_id=r)) for r in ("r-1", 2**70, 256)]
    monkeypatch.setattr(encoding, "compact_json", no_fallback)
    assert [encode(event(ride_id=r)) for r in ("r-1", 2**70, 256)] == expected


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_duration_still_raises(bad):
    with pytest.raises(ValueError):
        PredictionEncoder(MODEL, VERSION)(event(duration=bad))


def test_keys_in_another_order_keep_their_order():
    value = event()
    reordered = {k: value[k] for k in ("version", "model", "prediction", "source")}
    assert PredictionEncoder(MODEL, VERSION)(reordered) == compact_json(reordered)


@given(duration=durations, ride_id=ride_ids, source=sources)
def test_the_three_value_encoder_writes_what_compact_json_writes(duration, ride_id, source):
    """``prediction`` (the handler's path, which skips the dict checks) is byte for
    byte the event ``__call__`` and ``compact_json`` write, and raises where they do."""
    encode = PredictionEncoder(MODEL, VERSION)
    value = event(duration=duration, ride_id=ride_id, source=source)
    try:
        expected = compact_json(value)
    except ValueError:
        with pytest.raises(ValueError):
            encode.prediction(duration, ride_id, source)
        return
    assert encode.prediction(duration, ride_id, source) == expected == encode(value)


def test_the_handlers_usual_values_take_the_fast_path(monkeypatch):
    """If ``prediction`` fell back for the usual event, the batch would pay for both."""
    from streaming.consumer import encoding

    def no_fallback(value):
        raise AssertionError(f"fell back for {value!r}")

    monkeypatch.setattr(encoding, "compact_json", no_fallback)
    encode = PredictionEncoder(MODEL, VERSION)
    for ride_id in (256, "r-1", 2**70):
        assert encode.prediction(12.8, ride_id, {"eventID": "shardId-000000000000:4959"})
