"""``streaming score``: batch scoring of a whole file, with the stream's validation and features.

    streaming score --input data/green_tripdata_2023-02.parquet --output preds.parquet
    streaming score --input s3://bucket/rides.jsonl --output s3://bucket/preds.parquet

Input is a TLC trip file (parquet: ``lpep_pickup_datetime``, ``PULocationID``,
``DOLocationID``, ``trip_distance``; ``ride_id`` = the row number in the file) or
ride events as JSON lines (the stream's ``{"ride": {...}, "ride_id": ...}``).
Each row goes through ``events.validate_event`` and ``features.feature_matrix``
- the handler's own code - so the three deployment modes give the same answer.
Rows are read, predicted and written chunk by chunk (parquet row batches, lines),
so memory stays flat whatever the file's size. Rejected rows go to a separate
parquet file with their reason.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streaming.events import RecordRef, Rejection, Ride, decode_json, validate_event
from streaming.features import feature_matrix
from streaming.model import LoadedModel

TLC_COLUMNS = [
    "lpep_pickup_datetime",
    "lpep_dropoff_datetime",
    "PULocationID",
    "DOLocationID",
    "trip_distance",
]


@dataclass
class ScoreStats:
    rows: int = 0
    predicted: int = 0
    rejected: int = 0
    seconds: float = 0.0


@dataclass
class Row:
    """One input row: its position, the ride event (or raw line) and, for TLC, the truth."""

    source_row: int
    payload: Any  # a dict (TLC row) or bytes (a JSON line)
    actual_duration: float | None = None


def _is_s3(uri: str) -> bool:
    return uri.startswith("s3://")


def _split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def _s3() -> Any:
    import boto3

    return boto3.client("s3")


@contextmanager
def local_input(uri: str) -> Iterator[Path]:
    """A local path for ``uri``; an S3 object is streamed to a temp file first (parquet
    needs random access to its footer; the download itself is chunked)."""
    if not _is_s3(uri):
        yield Path(uri)
        return
    bucket, key = _split_s3(uri)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(key).name
        _s3().download_file(bucket, key, str(path))
        yield path


def tlc_rows(path: Path, chunk_rows: int) -> Iterator[list[Row]]:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    names = set(parquet.schema_arrow.names)
    columns = [c for c in TLC_COLUMNS if c in names]
    row = 0
    for batch in parquet.iter_batches(batch_size=chunk_rows, columns=columns):
        data = batch.to_pydict()
        pickups = data["lpep_pickup_datetime"]
        dropoffs = data.get("lpep_dropoff_datetime", [None] * len(pickups))
        rows = []
        for i, pickup in enumerate(pickups):
            dropoff = dropoffs[i]
            actual = (dropoff - pickup).total_seconds() / 60.0 if pickup and dropoff else None
            rows.append(
                Row(
                    row,
                    {
                        "ride": {
                            "PULocationID": _zone_id(data["PULocationID"][i]),
                            "DOLocationID": _zone_id(data["DOLocationID"][i]),
                            "trip_distance": data["trip_distance"][i],
                            "pickup_datetime": pickup.isoformat() if pickup else None,
                        },
                        "ride_id": row,
                    },
                    actual,
                )
            )
            row += 1
        yield rows


def _zone_id(value: Any) -> Any:
    """A zone column stored as floats (a parquet column with nulls) holds integers:
    130.0 is zone 130. Anything else is passed on for validation to judge."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def jsonl_rows(uri: str, chunk_rows: int) -> Iterator[list[Row]]:
    """Lines in chunks; an S3 object is read as a stream, never whole."""
    with ExitStack() as stack:
        if _is_s3(uri):
            bucket, key = _split_s3(uri)
            body = _s3().get_object(Bucket=bucket, Key=key)["Body"]
            stack.callback(body.close)
            lines: Iterable[bytes] = body.iter_lines()
        else:
            lines = stack.enter_context(Path(uri).open("rb"))
        rows: list[Row] = []
        for number, line in enumerate(lines):
            if line.strip():
                rows.append(Row(number, line.rstrip(b"\r\n")))
            if len(rows) == chunk_rows:
                yield rows
                rows = []
        if rows:
            yield rows


def score_rows(model: LoadedModel, rows: list[Row]) -> tuple[dict[str, list], dict[str, list]]:
    """Validate, build features and predict one chunk -> (predicted columns, rejected columns)."""
    items: list[Ride | Rejection] = []
    for r in rows:
        ref = RecordRef.standalone(r.source_row)
        items.append(
            decode_json(r.payload, ref)
            if isinstance(r.payload, bytes)
            else validate_event(r.payload, ref)
        )
    rides = [i for i in items if isinstance(i, Ride)]
    x = feature_matrix(rides)
    minutes = model.predictor.predict(x) if rides else []
    actual = {r.source_row: r.actual_duration for r in rows}
    good: dict[str, list] = {
        "ride_id": [str(r.ride_id) for r in rides],
        "predicted_duration": list(minutes),
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
    bad_items = [i for i in items if isinstance(i, Rejection)]
    bad: dict[str, list] = {
        "source_row": [b.ref.index for b in bad_items],
        "reason": [b.reason.value for b in bad_items],
        "detail": [b.detail for b in bad_items],
        "record": [_as_text(payload_of[b.ref.index]) for b in bad_items],
    }
    return good, bad


def _as_text(payload: Any) -> str:
    if isinstance(payload, bytes):
        return payload.decode("utf-8", "replace")
    return json.dumps(payload, default=str)


class ParquetSink:
    """Write chunks to a parquet file (uploaded to S3 at the end for s3:// targets)."""

    def __init__(self, uri: str, schema: Any) -> None:
        import pyarrow.parquet as pq

        self.uri = uri
        self.schema = schema
        self._tmp: str | None = None
        if _is_s3(uri):  # written locally, uploaded on close
            fd, self._tmp = tempfile.mkstemp(suffix=".parquet")
            os.close(fd)
            path = self._tmp
        else:
            Path(uri).parent.mkdir(parents=True, exist_ok=True)
            path = uri
        self.writer = pq.ParquetWriter(path, schema)
        self.path = path

    def write(self, columns: dict[str, list]) -> None:
        import pyarrow as pa

        self.writer.write_table(pa.Table.from_pydict(columns, schema=self.schema))

    def close(self) -> None:
        self.writer.close()
        if self._tmp is not None:
            bucket, key = _split_s3(self.uri)
            try:
                _s3().upload_file(self._tmp, bucket, key)
            finally:
                os.unlink(self._tmp)


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


def score(
    model: LoadedModel,
    input_uri: str,
    output_uri: str,
    rejected_uri: str,
    *,
    chunk_rows: int = 50_000,
    progress: bool = True,
) -> ScoreStats:
    import time

    fmt = "jsonl" if input_uri.endswith((".jsonl", ".json", ".ndjson")) else "tlc"
    predicted_schema, rejected_schema = schemas()
    stats = ScoreStats()
    started = time.perf_counter()
    sink = ParquetSink(output_uri, predicted_schema)
    rejects = ParquetSink(rejected_uri, rejected_schema)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(unit="row", desc="score", file=sys.stderr)
    try:
        with local_input(input_uri) if fmt == "tlc" else _nothing() as path:
            chunks = (
                tlc_rows(path, chunk_rows) if fmt == "tlc" else jsonl_rows(input_uri, chunk_rows)
            )
            for rows in chunks:
                good, bad = score_rows(model, rows)
                sink.write(good)
                if bad["source_row"]:
                    rejects.write(bad)
                stats.rows += len(rows)
                stats.predicted += len(good["ride_id"])
                stats.rejected += len(bad["source_row"])
                if bar is not None:
                    bar.update(len(rows))
    finally:
        sink.close()
        rejects.close()
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


def main(argv: list[str] | None = None) -> int:
    from streaming.config import Settings
    from streaming.model import load_model

    p = argparse.ArgumentParser(
        prog="streaming score",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--input",
        required=True,
        help="TLC parquet or ride-event JSON lines; "
        "a path or s3://bucket/key (AWS_ENDPOINT_URL_S3 for an emulator)",
    )
    p.add_argument("--output", required=True, help="predictions parquet: path or s3://")
    p.add_argument("--rejected", help="rejected rows parquet (default: <output>.rejected.parquet)")
    p.add_argument("--model", help="model location (default: MODEL_LOCATION, else shipped)")
    p.add_argument("--chunk-rows", type=int, default=50_000)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    model = load_model(args.model or Settings.from_env().model_location)
    stats = score(
        model,
        args.input,
        args.output,
        args.rejected or default_rejected(args.output),
        chunk_rows=args.chunk_rows,
        progress=not args.quiet,
    )
    print(
        json.dumps(
            {
                "rows": stats.rows,
                "predicted": stats.predicted,
                "rejected": stats.rejected,
                "seconds": round(stats.seconds, 2),
                "rows_per_s": round(stats.rows / stats.seconds) if stats.seconds else None,
                "model_version": model.version,
            }
        )
    )
    return 0
