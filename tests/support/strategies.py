"""Hypothesis strategies for hostile input: what an attacker or a buggy producer sends.

Structure-aware: ride events whose fields take JSON values of every type and
magnitude, ISO date-times with any offset in and beyond ``datetime``'s range,
KPL aggregates with any keys, indexes, lengths and stray fields, arbitrary
bytes, and Lambda records whose own fields are damaged. Each generated
record is tagged with its position so tests can account for every one.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from tests.conftest import make_record
from tests.support import kpl_build

#: Integers up to 1,000 digits: far beyond float64 and int64, inside Python's
#: 4,300-digit str() limit (json.loads raises on longer literals: invalid_json).
HUGE = 10**1000

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-HUGE, max_value=HUGE)
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)

#: Offsets datetime accepts (strictly inside +-24 h), seconds and microseconds included.
offsets = st.timedeltas(
    min_value=-timedelta(hours=23, minutes=59, seconds=59),
    max_value=timedelta(hours=23, minutes=59, seconds=59),
)


@st.composite
def iso_datetimes(draw: st.DrawFn) -> str:
    """ISO 8601 strings from year 1 to 9999, naive or with any offset, in many forms."""
    moment = draw(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)))
    kind = draw(st.sampled_from(["naive", "offset", "Z", "date", "edge"]))
    if kind == "edge":  # the corners of the range, where conversions overflow
        moment = draw(st.sampled_from([datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59)]))
        kind = draw(st.sampled_from(["naive", "offset"]))
    if kind == "offset":
        return moment.replace(tzinfo=timezone(draw(offsets))).isoformat()
    if kind == "Z":
        return moment.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")
    if kind == "date":
        return moment.date().isoformat()
    return moment.isoformat(sep=draw(st.sampled_from(["T", " "])))


location_ids = (
    st.integers(min_value=1, max_value=300)
    | st.integers(min_value=-(2**40), max_value=2**40)
    | st.sampled_from([0, -1, 2**31 - 1, 2**31, 2**63, 2**64, HUGE, -HUGE])
    | json_values
)
distances = (
    st.floats(min_value=0, max_value=200, allow_nan=False)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(min_value=-HUGE, max_value=HUGE)
    | json_values
)
ride_ids = (
    st.integers(min_value=0, max_value=10**9)
    | st.integers(min_value=-(10**300), max_value=10**300)
    | st.text(min_size=0, max_size=300)
    | json_values
)
pickups = st.none() | iso_datetimes() | st.text(max_size=70) | json_values


@st.composite
def ride_payloads(draw: st.DrawFn) -> Any:
    """A ride event, usually nearly right, with any field missing, odd or extreme."""
    if draw(st.integers(0, 9)) == 0:
        return draw(json_values)
    ride: dict[str, Any] = {}
    for name, values in (
        ("PULocationID", location_ids),
        ("DOLocationID", location_ids),
        ("trip_distance", distances),
        ("pickup_datetime", pickups),
    ):
        if draw(st.integers(0, 9)) > 0:
            ride[name] = draw(values)
    extra = draw(st.dictionaries(st.text(max_size=5), json_values, max_size=2))
    event: dict[str, Any] = {"ride": ride if draw(st.integers(0, 19)) else draw(json_values)}
    if draw(st.integers(0, 9)) > 0:
        event["ride_id"] = draw(ride_ids)
    return extra | event


def encode(payload: Any) -> bytes:
    """JSON as a producer would write it (Python's json writes NaN/Infinity: invalid JSON)."""
    return json.dumps(payload).encode("utf-8")


payload_bytes = ride_payloads().map(encode) | st.binary(max_size=200)


@st.composite
def aggregates(draw: st.DrawFn) -> bytes:
    """KPL aggregated data: any key table, indexes, data and damage."""
    keys = draw(st.lists(st.text(max_size=3) | st.text(min_size=250, max_size=300), max_size=3))
    records = draw(
        st.lists(
            st.tuples(st.integers(0, 4), payload_bytes),
            max_size=draw(st.sampled_from([0, 3, 12])),
        )
    )
    msg = kpl_build.message(keys, records)
    damage = draw(st.sampled_from(["none", "none", "stray", "truncate", "md5"]))
    if damage == "stray":  # a field the format does not define, and hash-key entries
        msg += kpl_build.length_delimited(2, b"hash") + kpl_build.varint_field(9, 7)
    elif damage == "truncate" and msg:
        msg = msg[: draw(st.integers(0, len(msg) - 1))]
    data = kpl_build.wrap(msg)
    if damage == "md5":
        data = data[:-1] + bytes([data[-1] ^ 1])
    return data


record_data = payload_bytes | aggregates()


@st.composite
def lambda_records(draw: st.DrawFn, index: int) -> dict[str, Any]:
    """One ``Records[]`` entry for position ``index``; its own fields sometimes damaged.

    The eventID always names the position (``shardId-000000000000:<index>``), so a
    test can tell which input each output came from."""
    record = make_record(
        draw(record_data),
        seq=index + 1,
        raw=True,
        key=draw(st.sampled_from(["k", "x" * 256])),
        arrival=draw(st.sampled_from([1_676_000_000.0, 0.0, 253_402_300_799.0])),
    )
    record["eventID"] = f"shardId-000000000000:{index}"
    kinesis = record["kinesis"]
    damage = draw(st.integers(0, 19))
    if damage == 0:
        kinesis["approximateArrivalTimestamp"] = draw(json_values)
    elif damage == 1:
        kinesis["partitionKey"] = draw(json_values | st.just("\ud800") | st.just("k" * 3000))
    elif damage == 2:
        kinesis["data"] = draw(json_values | st.text(max_size=20))
    elif damage == 3:
        del kinesis["approximateArrivalTimestamp"]
    return record


@st.composite
def batches(draw: st.DrawFn, max_records: int = 8) -> list[dict[str, Any]]:
    n = draw(st.integers(1, max_records))
    return [draw(lambda_records(i)) for i in range(n)]
