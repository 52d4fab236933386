"""``streaming score`` on hostile files: a bad row is a reject with its reason, never an
exception; a file it cannot use at all is one clear ``ScoreError``; nothing is lost.

The property tests generate small TLC parquet files (every column of any arrow
type, values of any magnitude, nulls, timestamps beyond ``datetime``'s range)
and JSON-lines files (any bytes), and check that every input row ends up in
exactly one of the two outputs, that every prediction is finite, and that the
outputs exist only after a successful run. On JSON lines, score must also give
the handler's answer, line by line.
"""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streaming.consumer import kpl
from streaming.consumer.config import Settings
from streaming.consumer.decode import decode_payload
from streaming.consumer.handler import RideDurationService
from streaming.consumer.records import InvalidEvent, RecordRef, Ride
from streaming.serving.json_lines import split_lines
from streaming.serving.score import ScoreError, main, score
from streaming.serving.score_chunk import fit_output
from streaming.serving.serve import PredictionApp
from tests.conftest import make_record
from tests.support.budget import examples
from tests.support.rides import ride_bytes
from tests.support.strategies import iso_datetimes, payload_bytes

#: Reasons that mean a valid ride got no answer: the model or features failed (a bug).
NOT_BAD_INPUT = {"prediction_failed", "prediction_not_finite"}
NY_8AM = datetime(2023, 2, 1, 8, 0)  # a Wednesday; 13:00 UTC


#: the invocation time both modes use for rows without a pickup time
INVOKED = 1_675_257_300.0


def _score(model, source: Path, chunk_rows: int = 50_000):
    """Score ``source`` next to itself -> (stats, predictions, rejects)."""
    out, rejected = source.with_suffix(".out.parquet"), source.with_suffix(".rej.parquet")
    stats = score(
        model,
        str(source),
        str(out),
        str(rejected),
        chunk_rows=chunk_rows,
        progress=False,
        now=INVOKED,
    )
    return stats, pq.read_table(out).to_pylist(), pq.read_table(rejected).to_pylist()


def _table(n: int, **columns) -> pa.Table:
    """A good TLC table of ``n`` rides; ``columns`` replace (or, with None, drop) columns."""
    base = {
        "lpep_pickup_datetime": pa.array(
            [NY_8AM + timedelta(minutes=11 * i) for i in range(n)], pa.timestamp("us")
        ),
        "lpep_dropoff_datetime": pa.array(
            [NY_8AM + timedelta(minutes=11 * i + 9) for i in range(n)], pa.timestamp("us")
        ),
        "PULocationID": pa.array([74 + i % 40 for i in range(n)], pa.int64()),
        "DOLocationID": pa.array([75 + i % 30 for i in range(n)], pa.int64()),
        "trip_distance": pa.array([1.0 + i / 7 for i in range(n)]),
    }
    merged = {**base, **columns}
    return pa.table({k: v for k, v in merged.items() if v is not None})


def _by_row(records):
    return {r["source_row"]: r for r in records}


# -- one bad row costs only itself ------------------------------------------------------

HOSTILE_ZONES = [
    # (arrow column, {row: expected reason}) - the other rows are good zones
    (pa.array([74, 2**63, 75, 2**64 - 1, 76, 0], pa.uint64()), {1: "id", 3: "id", 5: "id"}),
    (pa.array([74, -5, 75, 2**31, 76, None], pa.int64()), {1: "id", 3: "id", 5: "id"}),
    (
        pa.array([74.0, 1e300, math.nan, math.inf, -math.inf, -5.0, 1.5, 2.0**63, None, 75.0]),
        {i: "id" for i in range(1, 9)},
    ),
    (pa.array([74, 1e38, 75, 1.5], pa.float32()), {1: "id", 3: "id"}),
    (
        pa.array([Decimal("74"), Decimal("1.5"), Decimal("-3"), None], pa.decimal128(5, 1)),
        {1: "id", 2: "id", 3: "id"},
    ),
    (pa.nulls(3), {0: "id", 1: "id", 2: "id"}),
]


@pytest.mark.parametrize(
    ("column", "bad"), HOSTILE_ZONES, ids=lambda v: str(getattr(v, "type", ""))
)
def test_a_bad_zone_id_is_a_reject_and_the_rest_of_the_chunk_is_predicted(
    shipped_model, tmp_path, column, bad
):
    n = len(column)
    source = tmp_path / "in.parquet"
    pq.write_table(_table(n, PULocationID=column), source)
    stats, out, rejected = _score(shipped_model, source)
    assert (stats.rows, stats.rejected) == (n, len(bad))
    assert {r["source_row"]: r["reason"] for r in rejected} == {
        i: "invalid_location_id" for i in bad
    }
    good = [i for i in range(n) if i not in bad]
    assert [r["source_row"] for r in out] == good
    # the good rows get exactly what they get on their own
    alone = tmp_path / "alone.parquet"
    pq.write_table(_table(n, PULocationID=column).take(pa.array(good, pa.int64())), alone)
    _, out_alone, _ = _score(shipped_model, alone)
    assert [r["predicted_duration"] for r in out] == [r["predicted_duration"] for r in out_alone]


@pytest.mark.parametrize(
    ("column", "bad"),
    [
        (pa.array([1.0, -1.0, math.nan, math.inf, None, 3]), {1, 2, 3, 4}),
        (pa.array([1, 2**64 - 1, 3], pa.uint64()), set()),  # huge but finite: a distance
        (pa.array([Decimal("1.5"), Decimal("-0.1"), None], pa.decimal128(4, 1)), {1, 2}),
        (pa.nulls(2, pa.float64()), {0, 1}),
    ],
    ids=str,
)
def test_a_bad_distance_is_a_reject(shipped_model, tmp_path, column, bad):
    source = tmp_path / "in.parquet"
    pq.write_table(_table(len(column), trip_distance=column), source)
    stats, out, rejected = _score(shipped_model, source)
    assert {r["source_row"]: r["reason"] for r in rejected} == {
        i: "invalid_trip_distance" for i in bad
    }
    assert stats.predicted == len(column) - len(bad)
    assert all(math.isfinite(r["predicted_duration"]) for r in out)


# -- pickup columns of every type -------------------------------------------------------


def _same_instant(kind: str) -> pa.Array:
    """Two rides at 08:00 and 08:11 New York time (13:00, 13:11 UTC), as column ``kind``."""
    naive = [NY_8AM, NY_8AM + timedelta(minutes=11)]
    utc = [t + timedelta(hours=5) for t in naive]
    epoch = datetime(1970, 1, 1)
    if kind.startswith("naive-"):
        unit = kind.split("-")[1]
        per_s = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[unit]
        return pa.array([(t - epoch) // timedelta(seconds=1) * per_s for t in naive]).cast(
            pa.timestamp(unit)
        )
    if kind.startswith("tz-"):
        tz = kind[3:]
        ints = [(t - epoch) // timedelta(microseconds=1) for t in utc]
        return pa.array(ints, pa.int64()).cast(pa.timestamp("us", tz=tz))
    if kind == "ns-aware":
        ints = [(t - epoch) // timedelta(microseconds=1) * 1000 + 999 for t in utc]
        return pa.array(ints, pa.int64()).cast(pa.timestamp("ns", tz="UTC"))
    if kind == "string-naive":
        return pa.array([t.isoformat() for t in naive])
    if kind == "string-offset":
        return pa.array([t.isoformat() + "+00:00" for t in utc])
    if kind == "string-z":
        return pa.array([t.isoformat(sep=" ") + "Z" for t in utc], pa.large_string())
    if kind == "string-dictionary":
        return pa.array([t.isoformat() for t in naive]).dictionary_encode()
    raise AssertionError(kind)


PICKUP_KINDS = [
    "naive-s", "naive-ms", "naive-us", "naive-ns", "tz-UTC", "tz-+05:30", "tz-America/New_York",
    "ns-aware", "string-naive", "string-offset", "string-z", "string-dictionary",
]  # fmt: skip


@pytest.mark.parametrize("kind", PICKUP_KINDS)
def test_every_pickup_type_gives_the_same_answer(shipped_model, tmp_path, kind):
    reference = tmp_path / "reference.parquet"
    pq.write_table(_table(2, lpep_dropoff_datetime=None), reference)
    _, expected, _ = _score(shipped_model, reference)
    source = tmp_path / "in.parquet"
    pq.write_table(
        _table(2, lpep_dropoff_datetime=None, lpep_pickup_datetime=_same_instant(kind)), source
    )
    stats, out, rejected = _score(shipped_model, source)
    assert rejected == [] and stats.predicted == 2
    assert [(r["pickup_hour"], r["pickup_weekday"]) for r in out] == [(8, 2), (8, 2)]
    assert [r["predicted_duration"] for r in out] == [r["predicted_duration"] for r in expected]


def test_out_of_range_pickups_are_rejects_and_null_ones_start_at_the_run(shipped_model, tmp_path):
    def ts(values, unit, tz=None):
        return pa.array(values, pa.int64()).cast(pa.timestamp(unit, tz=tz))

    cases = [  # (column, {row: reason})
        (ts([2**62, 0, -(2**62), None], "us"), {0: "r", 2: "r"}),
        (ts([2**62, -(2**55)], "ms", "UTC"), {0: "r", 1: "r"}),
        (ts([-(2**40), 2**40, 10**9], "s"), {0: "r", 1: "r"}),
        (pa.array(["garbage", "2023-02-01T08:00:00", None, "x" * 500]), {0: "r", 3: "r"}),
        (pa.nulls(2, pa.timestamp("ns")), {}),
        (pa.nulls(2), {}),
    ]  # fmt: skip
    # a null pickup is no pickup time: the ride starts at the run (the stream's rule)
    reasons = {"r": "invalid_pickup_datetime"}
    for column, bad in cases:
        source = tmp_path / "in.parquet"
        pq.write_table(_table(len(column), lpep_pickup_datetime=column), source)
        stats, _, rejected = _score(shipped_model, source)
        assert {r["source_row"]: r["reason"] for r in rejected} == {
            i: reasons[k] for i, k in bad.items()
        }, column.type
        assert stats.predicted == len(column) - len(bad)


def test_pickups_at_the_edges_of_time_are_rejects(shipped_model, tmp_path):
    """In range for ``datetime`` but not in UTC or New York time: validation's bounds."""
    edges = [datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59), NY_8AM]
    for tz in (None, "UTC", "+14:00", "-12:00"):
        ints = [(t - datetime(1970, 1, 1)) // timedelta(seconds=1) for t in edges]
        column = pa.array(ints, pa.int64()).cast(pa.timestamp("s", tz=tz))
        source = tmp_path / "in.parquet"
        pq.write_table(_table(3, lpep_pickup_datetime=column), source)
        _, out, rejected = _score(shipped_model, source)
        assert [(r["source_row"], r["reason"]) for r in rejected] == [
            (0, "invalid_pickup_datetime"),
            (1, "invalid_pickup_datetime"),
        ], tz
        assert [r["source_row"] for r in out] == [2]


def test_a_string_pickup_that_is_not_utf8_is_a_reject(shipped_model, tmp_path):
    raw = pa.array([b"2023-02-01T08:00:00", b"\xff\xfe2023", None], pa.binary())
    column = pa.Array.from_buffers(pa.string(), 3, raw.buffers(), null_count=1)
    source = tmp_path / "in.parquet"
    pq.write_table(_table(3, lpep_pickup_datetime=column, lpep_dropoff_datetime=column), source)
    _, out, rejected = _score(shipped_model, source)
    assert [(r["source_row"], r["reason"]) for r in rejected] == [
        (1, "invalid_pickup_datetime"),
    ]
    assert "not UTF-8" in rejected[0]["detail"]
    assert [r["actual_duration"] for r in out] == [0.0, None]  # row 2: no pickup


def test_actual_duration_is_computed_where_it_can_be(shipped_model, tmp_path):
    ts = pa.timestamp("us")
    pickup = pa.array([NY_8AM, NY_8AM, None, NY_8AM], ts)
    dropoff = pa.array([NY_8AM + timedelta(minutes=9), None, NY_8AM, datetime(9999, 1, 1)], ts)
    source = tmp_path / "in.parquet"
    pq.write_table(_table(4, lpep_pickup_datetime=pickup, lpep_dropoff_datetime=dropoff), source)
    _, out, _ = _score(shipped_model, source)
    assert [(r["source_row"], r["actual_duration"]) for r in out] == [
        (0, 9.0),
        (1, None),
        (2, None),  # no pickup: predicted at the run's time, no actual duration
        (3, (datetime(9999, 1, 1) - NY_8AM).total_seconds() / 60),
    ]
    # an aware pickup and a naive drop-off cannot be compared: no actual duration
    aware = _same_instant("tz-UTC")
    pq.write_table(_table(2, lpep_pickup_datetime=aware), source)
    _, out, _ = _score(shipped_model, source)
    assert [r["actual_duration"] for r in out] == [None, None]


# -- the model or features failing: only the rides concerned ------------------------------


class _Fussy:
    """A model that raises on any chunk holding zone 13, and answers NaN for zone 14."""

    def __init__(self, predictor):
        self.predictor = predictor

    def predict(self, x):
        if (x[:, 0] == 13).any():
            raise RuntimeError("zone 13 is cursed")
        minutes = np.array(self.predictor.predict(x), dtype=float)
        minutes[x[:, 0] == 14] = math.nan
        return minutes


def test_a_ride_the_model_fails_on_costs_only_itself(shipped_model, tmp_path, capsys):
    model = replace(shipped_model, predictor=_Fussy(shipped_model.predictor))
    source = tmp_path / "in.parquet"
    pq.write_table(_table(6, PULocationID=pa.array([74, 13, 75, 14, 76, 13])), source)
    _, out, rejected = _score(model, source)
    assert [(r["source_row"], r["reason"]) for r in rejected] == [
        (1, "prediction_failed"),
        (3, "prediction_not_finite"),
        (5, "prediction_failed"),
    ]
    assert "zone 13 is cursed" in rejected[0]["detail"]
    assert [r["source_row"] for r in out] == [0, 2, 4]
    assert all(math.isfinite(r["predicted_duration"]) for r in out)
    # the command line says so: these are not bad input
    import streaming.model

    out_path = tmp_path / "cli.parquet"
    argv = ["--input", str(source), "--output", str(out_path), "--quiet"]
    original = streaming.model.load_model
    try:
        streaming.model.load_model = lambda _location: model
        assert main(argv) == 0
    finally:
        streaming.model.load_model = original
    captured = capsys.readouterr()
    assert "warning: 3 valid rows got no prediction" in captured.err
    assert json.loads(captured.out)["rejected_by_reason"] == {
        "prediction_failed": 2,
        "prediction_not_finite": 1,
    }


def test_a_validator_that_raises_is_a_one_line_error_naming_the_row(
    shipped_model, tmp_path, monkeypatch
):
    import streaming.serving.score_chunk as module

    real = module.validate_event

    def broken(payload, ref):
        if ref.index == 3:
            raise RecursionError("deep\nand multi-line")
        return real(payload, ref)

    monkeypatch.setattr(module, "validate_event", broken)
    source = tmp_path / "in.parquet"
    pq.write_table(_table(5), source)
    with pytest.raises(ScoreError, match=r"^row 3: validation raised RecursionError: deep and"):
        _score(shipped_model, source)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet"]


def test_the_writer_never_sees_an_id_beyond_int64():
    ref = RecordRef.standalone(7)
    rides = [
        Ride(1, 74, 75, 1.0, NY_8AM, RecordRef.standalone(6)),
        Ride(2, 2**63, 75, 1.0, NY_8AM, ref),
        Ride(3, 74, -(2**63) - 1, 1.0, NY_8AM, RecordRef.standalone(8)),
    ]
    fit, rejected = fit_output(rides)
    assert [r.ride_id for r in fit] == [1]
    assert [(r.ref.index, r.reason.value) for r in rejected] == [
        (7, "invalid_location_id"),
        (8, "invalid_location_id"),
    ]


# -- JSON lines: any bytes ----------------------------------------------------------------

GOOD_LINE = ride_bytes("r", distance=2.5, pickup_datetime="2023-02-01T08:00:00")


def _event(**ride) -> bytes:
    return ride_bytes(1, distance=2.5, **ride)


HOSTILE_LINES = [
    (b"\xff\xfe{}", "invalid_utf8"),
    (b"[" * 100_000, "invalid_json"),
    (b'{"ride":' * 50_000, "invalid_json"),
    (b"\x0c", "invalid_json"),  # not JSON whitespace: a row, not a blank line
    (b"\xef\xbb\xbf" + GOOD_LINE, "invalid_json"),  # a byte order mark
    (b"\x00", "invalid_json"),
    (b'{"ride": {"PULocationID": 1e999}}', "invalid_location_id"),  # json reads inf
    (b"NaN", "invalid_json"),
    (b"1" * 5000, "invalid_json"),  # beyond Python's int parsing limit
    (_event(PULocationID=10**400, pickup_datetime="2023-02-01T08:00:00"), "invalid_location_id"),
    (_event(DOLocationID=-(10**400), pickup_datetime="2023-02-01"), "invalid_location_id"),
    (_event(PULocationID=2**63, pickup_datetime="2023-02-01T08:00:00"), "invalid_location_id"),
    (_event(pickup_datetime="0001-01-01T00:00:00+00:00"), "invalid_pickup_datetime"),
    (_event(pickup_datetime="9999-12-31T20:00:00-05:00"), "invalid_pickup_datetime"),
    (_event(pickup_datetime="\ud800"), "invalid_pickup_datetime"),
    (_event(pickup_datetime="2023-02-01T08:00:00"), None),
    (_event(pickup_datetime=None), None),  # starts at the run's time (the stream's rule)
    (GOOD_LINE + b"\r", None),  # CRLF
]


def test_any_line_is_a_row_rejected_with_its_reason_or_skipped(shipped_model, tmp_path):
    blanks = [b"", b"   ", b"\t\r"]
    lines = [line for line, _ in HOSTILE_LINES]
    data = b"\n".join(blanks[:1] + lines[:5] + blanks[1:] + lines[5:])
    source = tmp_path / "lines.jsonl"
    source.write_bytes(data)
    stats, out, rejected = _score(shipped_model, source, chunk_rows=4)
    numbers = [1, 2, 3, 4, 5, *range(8, 8 + len(lines) - 5)]
    expected = dict(zip(numbers, (reason for _, reason in HOSTILE_LINES), strict=True))
    assert stats.rows == len(lines) == stats.predicted + stats.rejected
    assert {r["source_row"]: r["reason"] for r in rejected} == {
        n: reason for n, reason in expected.items() if reason
    }
    assert sorted(r["source_row"] for r in out) == [n for n, r in expected.items() if not r]


#: Short lines of whitespace (JSON's and others), line ends and odd bytes.
tricky_bytes = st.lists(
    st.sampled_from([b" ", b"\t", b"\r", b"\n", b"\x0b", b"\x0c", b"\x00", b"{}", b"\xff"]),
    max_size=4,
).map(b"".join)


@examples(100)
@given(
    data=st.lists(tricky_bytes | st.binary(max_size=20), max_size=20).map(b"".join),
    sizes=st.lists(st.integers(1, 40), min_size=1),
)
def test_s3_lines_split_as_a_local_file_does(data, sizes):
    chunks, rest = [], data
    for size in sizes * (len(data) + 1):
        if not rest:
            break
        chunks.append(rest[:size])
        rest = rest[size:]
    with tempfile.TemporaryFile() as f:
        f.write(data)
        f.seek(0)
        local = [line.rstrip(b"\n") for line in f]
    assert list(split_lines(chunks)) == local


# -- property tests: any TLC file, any lines ----------------------------------------------

INT_TYPES = [pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint32(), pa.uint64()]
TIME_ZONES = [None, None, "UTC", "+05:30", "-14:00", "America/New_York", "Asia/Kolkata"]
UNITS = ["s", "ms", "us", "ns"]


def _nullable(values: st.SearchStrategy, n: int) -> st.SearchStrategy:
    return st.lists(st.none() | values, min_size=n, max_size=n)


@st.composite
def _int_column(draw, n: int) -> pa.Array:
    t = draw(st.sampled_from(INT_TYPES))
    info = np.iinfo(t.to_pandas_dtype())
    values = st.integers(
        max(int(info.min), 0) if draw(st.booleans()) else int(info.min), int(info.max)
    )
    typical = st.integers(max(int(info.min), -3), min(int(info.max), 300))
    return pa.array(draw(_nullable(typical | values, n)), t)


@st.composite
def _float_column(draw, n: int) -> pa.Array:
    width = draw(st.sampled_from([32, 64]))
    values = (
        st.floats(width=width)
        | st.integers(-3, 300).map(float)
        | st.sampled_from([2.0**31, 2.0**63, 2.0**64, 1e300, -0.0])
    )
    return pa.array(draw(_nullable(values, n)), pa.float32() if width == 32 else pa.float64())


@st.composite
def _decimal_column(draw, n: int) -> pa.Array:
    scale = draw(st.integers(0, 3))
    values = st.decimals(-(10**6), 10**6, places=scale, allow_nan=False, allow_infinity=False)
    return pa.array(draw(_nullable(values, n)), pa.decimal128(12, scale))


@st.composite
def _timestamp_column(draw, n: int) -> pa.Array:
    unit, tz = draw(st.sampled_from(UNITS)), draw(st.sampled_from(TIME_ZONES))
    per_s = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[unit]
    # parquet stores seconds as milliseconds: keep those values storable
    limit = (2**63 - 1) // 1000 if unit == "s" else 2**63 - 1
    values = (
        st.integers(-limit, limit)
        | st.integers(1_600_000_000, 1_700_000_000).map(lambda s: s * per_s)
        | st.sampled_from([-62_135_596_800, 253_402_300_799, 0]).map(lambda s: s * per_s)
    )
    ints = draw(_nullable(values.filter(lambda v: -limit <= v <= limit), n))
    return pa.array(ints, pa.int64()).cast(pa.timestamp(unit, tz=tz))


def _strings(n: int) -> st.SearchStrategy:
    return _nullable(iso_datetimes() | st.text(max_size=70), n).map(
        lambda v: pa.array(v, pa.string())
    )


def _column(kind: str, n: int) -> st.SearchStrategy:
    return {
        "int": _int_column(n),
        "float": _float_column(n),
        "decimal": _decimal_column(n),
        "null": st.just(pa.nulls(n)),
        "timestamp": _timestamp_column(n),
        "string": _strings(n) | _strings(n).map(lambda a: a.cast(pa.string()).dictionary_encode()),
        # kinds no value of the column can come in
        "text": st.just(pa.array(["74"] * n, pa.string())),
        "bool": st.just(pa.array([True] * n, pa.bool_())),
        "binary": st.just(pa.array([b"1"] * n, pa.binary())),
        "list": st.just(pa.array([[1]] * n, pa.list_(pa.int64()))),
        "date": st.just(pa.array([datetime(2023, 2, 1).date()] * n, pa.date32())),
        "int64": st.just(pa.array([1] * n, pa.int64())),
    }[kind]


NUMBER_KINDS = ["int", "float", "decimal", "null"]
COLUMN_KINDS = {  # column -> (kinds score reads, kinds it must refuse)
    "lpep_pickup_datetime": (["timestamp", "string", "null"], ["date", "int64", "binary", "list"]),
    "lpep_dropoff_datetime": (["timestamp", "string", "null"], ["date", "int64"]),
    "PULocationID": (NUMBER_KINDS, ["text", "bool", "list", "timestamp"]),
    "DOLocationID": (NUMBER_KINDS, ["text", "bool", "binary"]),
    "trip_distance": (NUMBER_KINDS, ["text", "bool", "date"]),
}


@st.composite
def tlc_files(draw) -> tuple[pa.Table, bool]:
    """A small TLC-shaped table, and whether score must refuse it (a whole-file problem)."""
    n = draw(st.integers(0, 8))
    columns, refuse = {}, False
    for name, (usable, unusable) in COLUMN_KINDS.items():
        choice = draw(st.integers(0, 19))
        if choice == 0:  # absent
            refuse |= name != "lpep_dropoff_datetime"
            continue
        if choice == 1:
            kind = draw(st.sampled_from(unusable))
            refuse = True
        else:
            kind = draw(st.sampled_from(usable))
        columns[name] = draw(_column(kind, n))
    if draw(st.booleans()):
        columns["VendorID"] = pa.array([b"\xff"] * n, pa.binary())  # other columns do not matter
    names = list(columns)
    if names:
        names = draw(st.permutations(names))
    table = pa.table({name: columns[name] for name in names}) if names else pa.table({})
    return table, refuse


def _leftovers(directory: Path, source: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p != source)


@pytest.mark.slow  # 60 generated files: seconds
@examples(60)
@given(file=tlc_files(), chunk_rows=st.sampled_from([1, 3, 50_000]))
def test_any_tlc_file_is_scored_row_by_row_or_refused_in_one_line(shipped_model, file, chunk_rows):
    table, refuse = file
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        source = directory / "in.parquet"
        pq.write_table(table, source)
        out, rejected = directory / "out.parquet", directory / "rej.parquet"
        if refuse:
            with pytest.raises(ScoreError) as error:
                score(
                    shipped_model,
                    str(source),
                    str(out),
                    str(rejected),
                    chunk_rows=chunk_rows,
                    progress=False,
                )
            assert "\n" not in str(error.value)
            assert _leftovers(directory, source) == []
            return
        stats = score(
            shipped_model,
            str(source),
            str(out),
            str(rejected),
            chunk_rows=chunk_rows,
            progress=False,
        )
        _check_accounting(stats, out, rejected, list(range(table.num_rows)))
        assert _leftovers(directory, source) == ["out.parquet", "rej.parquet"]


def _check_accounting(stats, out: Path, rejected: Path, source_rows: list[int]) -> None:
    predicted, rejects = pq.read_table(out).to_pylist(), pq.read_table(rejected).to_pylist()
    assert stats.rows == len(source_rows) == stats.predicted + stats.rejected
    assert (len(predicted), len(rejects)) == (stats.predicted, stats.rejected)
    rows = [r["source_row"] for r in predicted] + [r["source_row"] for r in rejects]
    assert sorted(rows) == source_rows  # each row exactly once
    assert all(math.isfinite(r["predicted_duration"]) for r in predicted)
    assert all(0 <= r["pickup_hour"] < 24 and 0 <= r["pickup_weekday"] < 7 for r in predicted)
    assert not {r["reason"] for r in rejects} & NOT_BAD_INPUT, rejects  # only bad input


hostile_lines = (
    payload_bytes | tricky_bytes | st.sampled_from([b"[" * 20_000, b"\xef\xbb\xbf{}", GOOD_LINE])
)


@examples(40)
@given(
    lines=st.lists(hostile_lines, max_size=12), trailing=st.booleans(), chunk_rows=st.integers(1, 5)
)
def test_any_json_lines_are_scored_line_by_line(shipped_model, lines, trailing, chunk_rows):
    data = b"\n".join(lines) + (b"\n" if trailing else b"")
    pieces = data.split(b"\n")
    if data.endswith(b"\n"):
        pieces.pop()
    rows = [i for i, piece in enumerate(pieces) if piece.strip(b" \t\r\n")]
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        source = directory / "in.jsonl"
        source.write_bytes(data)
        out, rejected = directory / "out.parquet", directory / "rej.parquet"
        run = partial(
            score, shipped_model, str(source), str(out), str(rejected), chunk_rows=chunk_rows,
            progress=False,
        )  # fmt: skip
        if (
            source.read_bytes()[:4] != b"PAR1"
            and rows
            and not any(_is_json(pieces[i].rstrip(b"\r\n")) for i in rows)
        ):  # not one line of JSON: not a JSON-lines file at all, refused in one line
            with pytest.raises(ScoreError, match="neither parquet nor JSON lines"):
                run()
            assert _leftovers(directory, source) == []
            return
        _check_accounting(run(), out, rejected, rows)


def _is_json(line: bytes) -> bool:
    try:
        decode_payload(line)
    except InvalidEvent:
        return False
    return True


@pytest.mark.slow  # 30 generated files, each scored and handled: seconds
@examples(30)
@given(
    lines=st.lists(
        payload_bytes.filter(
            lambda b: b"\n" not in b and b.strip(b" \t\r\n") and not b.startswith(kpl.MAGIC)
        ),
        min_size=1,
        max_size=10,
    )
)
def test_score_gives_the_handlers_answer_line_by_line(shipped_model, lines):
    """The same bytes as a JSON line and as a Kinesis record (without an arrival time,
    which a file row does not have): the same prediction, or the same reason. A course
    body (flat, no "ride") is the stream's ``invalid_ride`` but a ride for score and
    serve alike: there, score gives the web service's answer."""
    records = []
    for i, line in enumerate(lines):
        record = make_record(line, seq=i + 1, raw=True)
        del record["kinesis"]["approximateArrivalTimestamp"]
        records.append(record)
    handler = RideDurationService(shipped_model, Settings(test_run=True), clock=lambda: INVOKED)
    result = handler.process({"Records": records})
    expected = {
        int(p["source"]["eventID"].rsplit(":", 1)[1]) - 1: p["prediction"]["ride_duration"]
        for p in result.predictions
    }
    expected_rejected = {r.ref.index: r.reason.value for r in result.rejections}
    app = PredictionApp(shipped_model)
    for i, line in enumerate(lines):
        if _is_course_body(line):  # the web service's answer
            expected_rejected.pop(i)
            status, body, _ = app.predict(line, now=INVOKED)
            answer = json.loads(body)
            if status == 200:
                expected[i] = answer["duration"]
            else:
                expected_rejected[i] = answer["error"]
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "in.jsonl"
        source.write_bytes(b"\n".join(lines))
        if not any(_is_json(line) for line in lines):  # not JSON lines at all: refused
            with pytest.raises(ScoreError, match="neither parquet nor JSON lines"):
                _score(shipped_model, source)
            return
        _, out, rejected = _score(shipped_model, source)
    assert {r["source_row"]: r["predicted_duration"] for r in out} == expected
    assert {r["source_row"]: r["reason"] for r in rejected} == expected_rejected


def _is_course_body(line: bytes) -> bool:
    try:
        payload = decode_payload(line)
    except InvalidEvent:
        return False
    return type(payload) is dict and "ride" not in payload
