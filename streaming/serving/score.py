"""``streaming score``: batch scoring of a whole file, with the stream's validation and features.

    streaming score --input data/green_tripdata_2023-02.parquet --output preds.parquet
    streaming score --input s3://bucket/rides.jsonl --output s3://bucket/preds.parquet

Input is a TLC trip file (parquet: ``lpep_pickup_datetime``, ``PULocationID``,
``DOLocationID``, ``trip_distance``; ``ride_id`` = the row number in the file) or
ride events as JSON lines (the stream's ``{"ride": {...}, "ride_id": ...}``).
Each row goes through ``consumer.validate.validate_event`` and the handler's own features
and prediction step, so the three deployment modes give the same answer.
Rows are read, predicted and written chunk by chunk (parquet row batches, lines),
so memory stays flat whatever the file's size. Rejected rows go to a separate
parquet file with their reason.

A bad row is rejected, never fatal. A problem with the whole run (a missing
column, a column of a type that cannot hold its values, an output path that
would overwrite the input, an unreadable file) stops it with one line on
stderr and exit status 2 (``-v`` adds the traceback). Outputs are written
under a temporary name and renamed (S3: uploaded) only when the run
succeeds, so a failed run leaves no partial file and keeps an earlier one.

Column types (TLC files). Pickup: a timestamp without a time zone is New York
local time (as TLC writes it); with a time zone it is that instant; ISO 8601
strings are read by the stream's validator (naive = New York local time); any
unit (s, ms, us, ns). A null pickup is rejected (``missing_event_time``), one
outside the years validation accepts too (``invalid_pickup_datetime``). A date
column is refused: it has no time of day, and the pickup hour is a model
feature. Zone ids: integers, or floats/decimals holding integers. Distance:
numbers. A column of any other type is refused.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from streaming.consumer.decode import decode_json
from streaming.consumer.predict import predict_rides
from streaming.consumer.records import Reason, RecordRef, Rejection, Ride
from streaming.consumer.validate import MAX_PICKUP_YEAR, MIN_PICKUP_YEAR, validate_event
from streaming.model import LoadedModel

PICKUP = "lpep_pickup_datetime"
DROPOFF = "lpep_dropoff_datetime"
TLC_COLUMNS = [PICKUP, DROPOFF, "PULocationID", "DOLocationID", "trip_distance"]
#: Every TLC column but the drop-off time (used only for ``actual_duration``).
REQUIRED_COLUMNS = [PICKUP, "PULocationID", "DOLocationID", "trip_distance"]
JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")

#: The output's location id columns are int64.
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
#: ``datetime``'s range (years 1-9999) in seconds from 1970-01-01.
_MIN_EPOCH_S = -62_135_596_800
_END_EPOCH_S = 253_402_300_800  # 10000-01-01T00:00:00
_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
_UNIT_NAME = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}
#: Longer strings are not date-times (the validator's own limit is shorter).
_MAX_DATETIME_CHARS = 64


class ScoreError(Exception):
    """The run cannot go on (a whole-file problem, never one bad row): the message is one
    line naming the problem and the fix. Nothing is written."""


@dataclass
class ScoreStats:
    rows: int = 0
    predicted: int = 0
    rejected: int = 0
    seconds: float = 0.0
    #: rejected rows by reason code
    reasons: Counter[str] = field(default_factory=Counter)


@dataclass
class Row:
    """One input row: its position, the ride event (or raw line) and, for TLC, the truth."""

    source_row: int
    payload: Any  # a dict (TLC row) or bytes (a JSON line)
    actual_duration: float | None = None
    #: A problem found while reading the file (reason, detail): the row is rejected as is.
    problem: tuple[Reason, str] | None = None


def _is_s3(uri: str) -> bool:
    return uri.startswith("s3://")


def _split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def _s3() -> Any:
    import boto3

    return boto3.client("s3")


def _one_line(value: Any, limit: int = 300) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _read_errors() -> tuple[type[BaseException], ...]:
    """What reading or writing a file (local, parquet, S3) raises when the file (or the
    connection) is the problem, not the code."""
    import pyarrow as pa

    errors: tuple[type[BaseException], ...] = (OSError, pa.ArrowException)
    try:
        from boto3.exceptions import Boto3Error
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # pragma: no cover - only S3 needs boto3
        return errors
    return (*errors, BotoCoreError, ClientError, Boto3Error)


# -- where the outputs go ----------------------------------------------------------------


def _same_file(a: str, b: str) -> bool:
    """Whether two targets name the same file: S3 URIs compared as written, local paths
    resolved (symbolic links, ``..``) and, when both exist, by identity (hard links)."""
    if _is_s3(a) or _is_s3(b):
        return a == b
    try:
        if Path(a).resolve() == Path(b).resolve():
            return True
        return os.path.samefile(a, b)
    except (OSError, ValueError):  # one does not exist (yet), or a path with a NUL
        return a == b


def check_targets(input_uri: str, output_uri: str, rejected_uri: str) -> None:
    """Refuse outputs that would overwrite the input or each other (``ScoreError``)."""
    if _same_file(input_uri, output_uri):
        raise ScoreError(
            f"--output {output_uri} is the input file: scoring would overwrite it; "
            "write the predictions to another path"
        )
    if _same_file(input_uri, rejected_uri):
        raise ScoreError(
            f"the rejected-rows file {rejected_uri} is the input file: scoring would "
            "overwrite it; pass --rejected with another path"
        )
    if _same_file(output_uri, rejected_uri):
        raise ScoreError(
            f"the rejected-rows file {rejected_uri} is also --output: one would overwrite "
            "the other; pass --rejected with another path"
        )
    for uri in (output_uri, rejected_uri):
        if not _is_s3(uri) and Path(uri).is_dir():
            raise ScoreError(f"output {uri} is a directory; name a file (e.g. {uri}/out.parquet)")


class ParquetSink:
    """Chunks -> a parquet file that appears only complete.

    A local target is written under a hidden temporary name in its own directory
    and renamed over the target (``os.replace``, atomic) by ``commit``; an s3://
    target is written to a local temporary file and uploaded by ``commit``.
    ``abort`` removes the temporary file: a failed run leaves no partial output,
    and an earlier output of the same name stays as it was.
    """

    def __init__(self, uri: str, schema: Any) -> None:
        import pyarrow.parquet as pq

        self.uri = uri
        self.schema = schema
        if _is_s3(uri):
            fd, tmp = tempfile.mkstemp(suffix=".parquet")
            os.close(fd)
            self.path = Path(tmp)
        else:
            target = Path(uri)
            self.path = target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.writer = pq.ParquetWriter(str(self.path), schema)
        except OSError as exc:
            self._remove()
            raise ScoreError(f"cannot write {uri}: {_one_line(exc)}") from exc

    def write(self, columns: dict[str, list]) -> None:
        import pyarrow as pa

        try:
            self.writer.write_table(pa.Table.from_pydict(columns, schema=self.schema))
        except OSError as exc:
            raise ScoreError(f"cannot write {self.uri}: {_one_line(exc)}") from exc

    def commit(self) -> None:
        try:
            self.writer.close()
            if _is_s3(self.uri):
                bucket, key = _split_s3(self.uri)
                _s3().upload_file(str(self.path), bucket, key)
                self._remove()
            else:
                os.replace(self.path, self.uri)
        except _read_errors() as exc:
            self.abort()
            raise ScoreError(f"cannot write {self.uri}: {_one_line(exc)}") from exc

    def abort(self) -> None:
        with suppress(Exception):  # the file is being discarded anyway
            self.writer.close()
        self._remove()

    def _remove(self) -> None:
        with suppress(OSError):
            self.path.unlink(missing_ok=True)


# -- reading the input -------------------------------------------------------------------


@contextmanager
def local_input(uri: str) -> Iterator[Path]:
    """A local path for ``uri``; an S3 object is streamed to a temp file first (parquet
    needs random access to its footer; the download itself is chunked)."""
    if not _is_s3(uri):
        yield Path(uri)
        return
    bucket, key = _split_s3(uri)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / (Path(key).name or "input.parquet")
        try:
            _s3().download_file(bucket, key, str(path))
        except _read_errors() as exc:
            raise ScoreError(f"cannot read {uri}: {_one_line(exc)}") from exc
        yield path


def _reading(items: Iterable[Any], uri: str) -> Iterator[Any]:
    """``items``, with the errors of reading them (a truncated or corrupt file, a dropped
    connection) turned into a one-line ``ScoreError`` naming the file."""
    errors = _read_errors()
    iterator = iter(items)
    while True:
        try:
            item = next(iterator)
        except StopIteration:
            return
        except errors as exc:
            raise ScoreError(f"cannot read {uri}: {_one_line(exc)}") from exc
        yield item


def _kind(arrow_type: Any) -> str:
    """How a column's values are read: int, float, decimal, timestamp, string, date,
    null - or ``other`` (a type that can never hold a value of the column)."""
    import pyarrow as pa

    t = arrow_type.value_type if pa.types.is_dictionary(arrow_type) else arrow_type
    types = pa.types
    if types.is_integer(t):
        return "int"
    if types.is_floating(t):
        return "float"
    if types.is_decimal(t):
        return "decimal"
    if types.is_timestamp(t):
        return "timestamp"
    if types.is_string(t) or types.is_large_string(t) or types.is_string_view(t):
        return "string"
    if types.is_date(t):
        return "date"
    if types.is_null(t):
        return "null"
    return "other"


_NUMBERS = {"int", "float", "decimal", "null"}
_DATETIMES = {"timestamp", "string", "null"}
_ACCEPTED = {
    PICKUP: (_DATETIMES, "a timestamp (no time zone = New York local time) or ISO 8601 strings"),
    DROPOFF: (_DATETIMES, "a timestamp or ISO 8601 strings (or leave the column out)"),
    "PULocationID": (_NUMBERS, "integer zone ids"),
    "DOLocationID": (_NUMBERS, "integer zone ids"),
    "trip_distance": (_NUMBERS, "numbers (miles)"),
}


def _check_columns(schema: Any, uri: str) -> list[str]:
    """The TLC columns to read; ``ScoreError`` if one is missing or of an unusable type."""
    names = set(schema.names)
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise ScoreError(
            f"{uri} has no column {', '.join(missing)}: a TLC trip file has "
            f"{', '.join(REQUIRED_COLUMNS)} (ride events go in JSON lines: {JSONL_SUFFIXES[0]})"
        )
    columns = [c for c in TLC_COLUMNS if c in names]
    for name in columns:
        if schema.names.count(name) > 1:
            raise ScoreError(f"{uri} has {schema.names.count(name)} columns named {name}; keep one")
        arrow_type = schema.field(name).type
        kind = _kind(arrow_type)
        accepted, expected = _ACCEPTED[name]
        if kind == "date" and name == PICKUP:
            raise ScoreError(
                f"{uri}: column {name} is {arrow_type}, a date without a time of day, but the "
                "pickup hour is a model feature: store a timestamp (New York local time)"
            )
        if kind not in accepted:
            raise ScoreError(f"{uri}: column {name} is {arrow_type}; expected {expected}")
    return columns


def tlc_rows(path: Path, chunk_rows: int, uri: str | None = None) -> Iterator[list[Row]]:
    """A TLC parquet file in chunks of rows. The file and its columns are checked here,
    before the first chunk (``ScoreError``); a bad value makes only its row a reject."""
    import pyarrow.parquet as pq

    name = uri or str(path)
    try:
        parquet = pq.ParquetFile(path)
        schema = parquet.schema_arrow
    except _read_errors() as exc:
        raise ScoreError(f"cannot read {name} as parquet: {_one_line(exc)}") from exc
    columns = _check_columns(schema, name)
    batches = _reading(parquet.iter_batches(batch_size=chunk_rows, columns=columns), name)
    return _tlc_chunks(batches)


def _tlc_chunks(batches: Iterable[Any]) -> Iterator[list[Row]]:
    first = 0
    for batch in batches:
        yield _tlc_chunk(batch, first)
        first += batch.num_rows


def _tlc_chunk(batch: Any, first: int) -> list[Row]:
    n = batch.num_rows
    cols = {name: _decoded(batch.column(name)) for name in batch.schema.names}
    pickup = _times(cols[PICKUP])
    dropoff = _times(cols[DROPOFF]) if DROPOFF in cols else None
    actual = _durations(pickup, dropoff, n)
    pu = _zone_ids(cols["PULocationID"])
    do = _zone_ids(cols["DOLocationID"])
    distance = _numbers(cols["trip_distance"])
    problems = pickup.problems
    rows = []
    for i, (p, d, km, t, a) in enumerate(zip(pu, do, distance, pickup.text, actual, strict=True)):
        row = first + i
        rows.append(
            Row(
                row,
                {
                    "ride": {
                        "PULocationID": p,
                        "DOLocationID": d,
                        "trip_distance": km,
                        "pickup_datetime": t,
                    },
                    "ride_id": row,
                },
                a,
                problems.get(i) if problems else None,
            )
        )
    return rows


def _decoded(column: Any) -> Any:
    import pyarrow as pa

    return column.dictionary_decode() if pa.types.is_dictionary(column.type) else column


def _zone_ids(column: Any) -> list[Any]:
    """Zone ids as Python values for the validator to judge. Integer columns give ints;
    a float or decimal holding an integer (130.0: a zone column with nulls turns float)
    gives that int; anything else (1.5, NaN, inf, null) is passed on as is."""
    kind = _kind(column.type)
    if kind == "int":
        return column.to_pylist()
    if kind == "null":
        return [None] * len(column)
    values = column.to_pylist()
    if kind == "float":
        return [_zone_id(v) for v in values]
    return [_decimal_zone_id(v) for v in values]


def _zone_id(value: Any) -> Any:
    """A zone column stored as floats (a parquet column with nulls) holds integers:
    130.0 is zone 130. Anything else is passed on for validation to judge."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _decimal_zone_id(value: Any) -> Any:
    if value is None:
        return None
    numerator, denominator = value.as_integer_ratio()
    return numerator if denominator == 1 else float(value)


def _numbers(column: Any) -> list[Any]:
    """Trip distances as Python ints/floats (decimals as floats) for the validator."""
    kind = _kind(column.type)
    if kind == "null":
        return [None] * len(column)
    values = column.to_pylist()
    if kind == "decimal":
        return [None if v is None else float(v) for v in values]
    return values


@dataclass
class _Times:
    """A date-time column, read so that no value can raise."""

    #: ISO 8601 text per row for the validator (a string column's own text); None = null
    text: list[Any]
    #: rows whose value is no date-time at all: row -> (reason, detail)
    problems: dict[int, tuple[Reason, str]]
    #: timestamp columns: microseconds from 1970-01-01 (UTC if ``aware``, else wall
    #: clock), 0 where not ``usable``
    micros: Any = None
    usable: Any = None
    aware: bool = False


def _times(column: Any) -> _Times:
    n = len(column)
    kind = _kind(column.type)
    if kind == "null":
        return _Times([None] * n, {})
    if kind == "string":
        return _strings(column)
    return _timestamps(column)


def _strings(column: Any) -> _Times:
    """A string column's values as they are, for the validator to parse. A parquet file
    may hold bytes that are not UTF-8 in a string column: such a value is rejected."""
    import pyarrow as pa

    try:
        return _Times(column.to_pylist(), {})
    except UnicodeDecodeError:
        pass
    text: list[Any] = []
    problems: dict[int, tuple[Reason, str]] = {}
    for i, raw in enumerate(column.cast(pa.large_binary()).to_pylist()):
        try:
            text.append(None if raw is None else raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            text.append(raw.decode("utf-8", "replace"))
            problems[i] = (
                Reason.INVALID_PICKUP_DATETIME,
                f"ride.pickup_datetime is not UTF-8 text: {exc}",
            )
    return _Times(text, problems)


def _timestamps(column: Any) -> _Times:
    """A timestamp column of any unit, with or without a time zone -> ISO 8601 text.

    Values are read as int64 counts of the column's unit (never raises, unlike
    ``as_py()`` beyond year 9999), bounded to ``datetime``'s years 1-9999 and
    formatted by numpy. Nanoseconds are floored to microseconds (Python's and the
    validator's resolution). An aware column's values are written in UTC (``Z``):
    the same instant; the validator converts it to New York time.
    """
    import numpy as np
    import pyarrow as pa

    unit = column.type.unit
    aware = column.type.tz is not None
    per_second = _PER_SECOND[unit]
    counts = column.cast(pa.int64())
    if counts.null_count:
        valid = counts.is_valid().to_numpy(zero_copy_only=False)
        values = counts.fill_null(0).to_numpy()
    else:
        valid = None
        values = counts.to_numpy()
    lo, hi = _MIN_EPOCH_S * per_second, _END_EPOCH_S * per_second - 1  # Python ints
    in_range = (values >= max(lo, _INT64_MIN)) & (values <= min(hi, _INT64_MAX))
    usable = in_range if valid is None else in_range & valid
    all_usable = bool(usable.all())
    counts_ok = values if all_usable else np.where(usable, values, 0)
    if per_second >= 1_000_000:
        micros = counts_ok // (per_second // 1_000_000)
    else:
        micros = counts_ok * (1_000_000 // per_second)
    whole_seconds = not (micros % 1_000_000).any()
    text = np.datetime_as_string(
        micros.astype("datetime64[us]"),
        unit="s" if whole_seconds else "us",
        timezone="UTC" if aware else "naive",
    ).tolist()
    problems: dict[int, tuple[Reason, str]] = {}
    if not all_usable:
        for i in np.flatnonzero(~usable).tolist():
            if valid is not None and not valid[i]:
                text[i] = None  # null: the validator says what is missing
                continue
            raw = int(values[i])
            text[i] = f"{column.type} {raw}"
            problems[i] = (
                Reason.INVALID_PICKUP_DATETIME,
                f"ride.pickup_datetime {raw} {_UNIT_NAME[unit]} from 1970-01-01"
                f"{' UTC' if aware else ''} is outside years {MIN_PICKUP_YEAR}-{MAX_PICKUP_YEAR}",
            )
    return _Times(text, problems, micros, usable, aware)


def _durations(pickup: _Times, dropoff: _Times | None, n: int) -> list[float | None]:
    """Drop-off minus pickup in minutes per row (``actual_duration``), None when unknown:
    a value missing or unusable, or one time zone-aware and the other not."""
    if dropoff is None:
        return [None] * n
    if pickup.micros is not None and dropoff.micros is not None:
        if pickup.aware != dropoff.aware:
            return [None] * n
        minutes = ((dropoff.micros - pickup.micros) / 1e6 / 60.0).tolist()
        both = pickup.usable & dropoff.usable
        if both.all():
            return minutes
        return [m if ok else None for m, ok in zip(minutes, both.tolist(), strict=True)]
    return [
        _minutes_between(_parse_time(p), _parse_time(d))
        for p, d in zip(pickup.text, dropoff.text, strict=True)
    ]


def _parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str) or len(text) > _MAX_DATETIME_CHARS:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _minutes_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    try:
        return (end - start).total_seconds() / 60.0
    except (TypeError, OverflowError):  # naive vs aware; beyond timedelta
        return None


def jsonl_rows(uri: str, chunk_rows: int) -> Iterator[list[Row]]:
    """Lines in chunks; an S3 object is read as a stream, never whole.

    A line is split on ``\\n`` only (locally and from S3 alike); lines holding nothing
    but JSON whitespace are skipped; every other line is a row (``source_row`` = its
    line number from 0), whatever its bytes: the validator rejects what is not a ride.
    """
    with ExitStack() as stack:
        try:
            if _is_s3(uri):
                bucket, key = _split_s3(uri)
                body = _s3().get_object(Bucket=bucket, Key=key)["Body"]
                stack.callback(body.close)
                lines: Iterable[bytes] = _split_lines(body.iter_chunks(1 << 16))
            else:
                lines = stack.enter_context(Path(uri).open("rb"))
        except _read_errors() as exc:
            raise ScoreError(f"cannot read {uri}: {_one_line(exc)}") from exc
        rows: list[Row] = []
        for number, line in enumerate(_reading(lines, uri)):
            if line.strip(b" \t\r\n"):
                rows.append(Row(number, line.rstrip(b"\r\n")))
                if len(rows) == chunk_rows:
                    yield rows
                    rows = []
        if rows:
            yield rows


def _split_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Byte chunks -> lines split on ``\\n`` (as iterating a local file does)."""
    parts: list[bytes] = []
    for chunk in chunks:
        start = 0
        while (end := chunk.find(b"\n", start)) != -1:
            parts.append(chunk[start:end])
            yield b"".join(parts)
            parts = []
            start = end + 1
        if start < len(chunk):
            parts.append(chunk[start:])
    if parts:
        yield b"".join(parts)


# -- scoring -----------------------------------------------------------------------------


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
        ref = RecordRef.standalone(r.source_row, invocation_time=invocation_time)
        if r.problem is not None:
            rejections.append(Rejection(r.problem[0], r.problem[1], ref, None))
            continue
        try:
            item = (
                decode_json(r.payload, ref)
                if isinstance(r.payload, bytes)
                else validate_event(r.payload, ref)
            )
        except Exception as exc:
            raise ScoreError(
                f"row {r.source_row}: validation raised {type(exc).__name__}: {_one_line(exc)}; "
                "a bug in the validator, not bad input: please report it with this row"
            ) from exc
        if isinstance(item, Ride):
            rides.append(item)
        else:
            rejections.append(item)
    rides, too_large = _fit_output(rides)
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


def _fit_output(rides: list[Ride]) -> tuple[list[Ride], list[Rejection]]:
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


def input_format(uri: str) -> str:
    return "jsonl" if uri.endswith(JSONL_SUFFIXES) else "tlc"


def score(
    model: LoadedModel,
    input_uri: str,
    output_uri: str,
    rejected_uri: str,
    *,
    chunk_rows: int = 50_000,
    progress: bool = True,
    now: float | None = None,
) -> ScoreStats:
    """Score ``input_uri`` into ``output_uri`` (predictions) and ``rejected_uri``.

    Both outputs appear only if the whole run succeeds (the rejected rows first,
    then the predictions); otherwise ``ScoreError`` (a whole-file problem) or the
    error is raised and neither is written. ``now`` (epoch seconds, default the
    run's start) is the pickup time of rows that give none.
    """
    import time

    invocation_time = time.time() if now is None else now
    check_targets(input_uri, output_uri, rejected_uri)
    if chunk_rows < 1:
        raise ScoreError(f"chunk rows must be at least 1, got {chunk_rows}")
    predicted_schema, rejected_schema = schemas()
    stats = ScoreStats()
    started = time.perf_counter()
    with local_input(input_uri) if input_format(input_uri) == "tlc" else _nothing() as path:
        chunks = (
            tlc_rows(path, chunk_rows, input_uri)
            if path is not None
            else jsonl_rows(input_uri, chunk_rows)
        )
        sink = ParquetSink(output_uri, predicted_schema)
        try:
            rejects = ParquetSink(rejected_uri, rejected_schema)
        except BaseException:
            sink.abort()
            raise
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(unit="row", desc="score", file=sys.stderr)
        try:
            for rows in chunks:
                good, bad = score_rows(model, rows, invocation_time)
                sink.write(good)
                if bad["source_row"]:
                    rejects.write(bad)
                stats.rows += len(rows)
                stats.predicted += len(good["ride_id"])
                stats.rejected += len(bad["source_row"])
                stats.reasons.update(bad["reason"])
                if bar is not None:
                    bar.update(len(rows))
            rejects.commit()  # first: once the predictions appear, their rejects are there
            sink.commit()
        except BaseException:
            rejects.abort()
            sink.abort()
            raise
        finally:
            if bar is not None:
                bar.close()
    stats.seconds = time.perf_counter() - started
    return stats


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


def default_rejected(output_uri: str) -> str:
    stem = output_uri[: -len(".parquet")] if output_uri.endswith(".parquet") else output_uri
    return f"{stem}.rejected.parquet"


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


#: Rejects that are not bad input but a failure of features or the model on a valid ride.
_NOT_BAD_INPUT = (Reason.PREDICTION_FAILED.value, Reason.PREDICTION_NOT_FINITE.value)


def main(argv: list[str] | None = None) -> int:
    from streaming.consumer.config import Settings
    from streaming.model import ModelLoadError, load_model

    p = argparse.ArgumentParser(
        prog="streaming score",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--input",
        required=True,
        help="TLC parquet or ride-event JSON lines (.jsonl, .json, .ndjson); "
        "a path or s3://bucket/key (AWS_ENDPOINT_URL_S3 for an emulator)",
    )
    p.add_argument("--output", required=True, help="predictions parquet: path or s3://")
    p.add_argument("--rejected", help="rejected rows parquet (default: <output>.rejected.parquet)")
    p.add_argument("--model", help="model location (default: MODEL_LOCATION, else shipped)")
    p.add_argument("--chunk-rows", type=_positive, default=50_000)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("-v", "--verbose", action="store_true", help="show the traceback of an error")
    args = p.parse_args(argv)
    rejected = args.rejected or default_rejected(args.output)
    try:
        check_targets(args.input, args.output, rejected)  # before the model loads
        model = load_model(args.model or Settings.from_env().model_location)
        stats = score(
            model,
            args.input,
            args.output,
            rejected,
            chunk_rows=args.chunk_rows,
            progress=not args.quiet,
        )
    except (ScoreError, ModelLoadError) as exc:
        if args.verbose:
            import traceback

            traceback.print_exc()
        print(f"streaming score: {exc}", file=sys.stderr)
        return 2
    failed = sum(stats.reasons[r] for r in _NOT_BAD_INPUT)
    if failed:
        print(
            f"streaming score: warning: {failed} valid rows got no prediction (the model "
            f"failed on them: a bug, not bad input); they are in {rejected} with the error",
            file=sys.stderr,
        )
    print(
        json.dumps(
            {
                "rows": stats.rows,
                "predicted": stats.predicted,
                "rejected": stats.rejected,
                "rejected_by_reason": dict(sorted(stats.reasons.items())),
                "seconds": round(stats.seconds, 2),
                "rows_per_s": round(stats.rows / stats.seconds) if stats.seconds else None,
                "model_version": model.version,
            }
        )
    )
    return 0
