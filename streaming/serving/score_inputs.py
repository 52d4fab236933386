"""What ``score`` reads: the input's format, found from its content, and its rows.

A file that starts with parquet's magic bytes (``PAR1``) is a TLC trip file
(``tlc_columns``), whatever its name; any other file is JSON lines
(``json_lines``): ride events, the stream's or the course's flat body. A file
that ends with the magic but does not start with it is refused (damaged). The
name's extension plays no part: a parquet file named ``.jsonl`` is read as
parquet. An S3 object is looked at with two small range requests; a parquet
object is then downloaded to a temporary file (parquet needs random access to
its footer), JSON lines are streamed.

The input also says how much there is to read (``total``: rows for parquet,
from its metadata; bytes for JSON lines), for the progress bar's ETA.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streaming.serving import locations
from streaming.serving.errors import ScoreError
from streaming.serving.json_lines import jsonl_chunks
from streaming.serving.locations import (
    NOT_FOUND,
    error_code,
    explain,
    io_errors,
    is_s3,
    problem,
    split_s3,
)
from streaming.serving.rows import Row
from streaming.serving.tlc_columns import TlcFile

PARQUET_MAGIC = b"PAR1"
PARQUET = "parquet"
JSON_LINES = "jsonl"


@dataclass
class Input:
    """An open input: its format, how much there is (``total`` in ``unit``), its rows."""

    uri: str
    format: str
    total: int
    unit: str
    #: chunks of rows, each with the progress so far (in ``unit``)
    _chunks: Callable[[], Iterator[tuple[list[Row], int]]]

    def chunks(self) -> Iterator[tuple[list[Row], int]]:
        return self._chunks()


@contextmanager
def open_input(uri: str, chunk_rows: int) -> Iterator[Input]:
    """The input at ``uri`` (a path or s3://), its format found from its content."""
    head, tail, size = _edges(uri)
    if _format(head, tail, uri) == JSON_LINES:
        yield Input(uri, JSON_LINES, size, "B", lambda: jsonl_chunks(uri, chunk_rows))
        return
    with local_input(uri) as path:
        tlc = TlcFile(path, uri)
        yield Input(uri, PARQUET, tlc.num_rows, "row", lambda: _counted(tlc.chunks(chunk_rows)))


def input_format(uri: str) -> str:
    """``parquet`` or ``jsonl``, from the content of the file at ``uri``."""
    head, tail, _ = _edges(uri)
    return _format(head, tail, uri)


def _format(head: bytes, tail: bytes, uri: str) -> str:
    if head == PARQUET_MAGIC:
        return PARQUET
    if tail == PARQUET_MAGIC:
        raise ScoreError(
            f"cannot read {uri}: it ends as a parquet file does but does not start as one "
            "(a damaged file?)"
        )
    return JSON_LINES


def _counted(chunks: Iterator[list[Row]]) -> Iterator[tuple[list[Row], int]]:
    done = 0
    for rows in chunks:
        done += len(rows)
        yield rows, done


# -- the first and last bytes -----------------------------------------------------------


def _edges(uri: str) -> tuple[bytes, bytes, int]:
    """The first 4 bytes, the last 4 bytes and the size of the file at ``uri``."""
    return _s3_edges(uri) if is_s3(uri) else _local_edges(uri)


def _local_edges(uri: str) -> tuple[bytes, bytes, int]:
    try:
        with Path(uri).open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            head = f.read(4)
            if size >= 8:
                f.seek(-4, os.SEEK_END)
                return head, f.read(4), size
            return head, b"", size
    except (OSError, ValueError) as exc:  # ValueError: a path with a NUL
        raise ScoreError(problem(exc, uri)) from exc


def _s3_edges(uri: str) -> tuple[bytes, bytes, int]:
    bucket, key = split_s3(uri)
    if not bucket or not key:
        raise ScoreError(f"{uri} names no object: give s3://bucket/key")
    s3 = locations.s3_client()
    try:
        size = int(s3.head_object(Bucket=bucket, Key=key)["ContentLength"])
        head = _range(s3, bucket, key, "bytes=0-3") if size else b""
        tail = _range(s3, bucket, key, f"bytes={size - 4}-{size - 1}") if size >= 8 else b""
    except io_errors() as exc:
        why = explain(exc, uri)
        if error_code(exc) in NOT_FOUND:
            why = _no_such_bucket(s3, bucket) or why
        raise ScoreError(f"cannot read {uri}: {why}") from exc
    return head, tail, size


def _range(s3: Any, bucket: str, key: str, byte_range: str) -> bytes:
    body = s3.get_object(Bucket=bucket, Key=key, Range=byte_range)["Body"]
    try:
        return body.read()
    finally:
        body.close()


def _no_such_bucket(s3: Any, bucket: str) -> str | None:
    """After a HEAD's 404 (a missing key and a missing bucket alike): "no such bucket"
    if that is why, else None."""
    try:
        s3.head_bucket(Bucket=bucket)
    except io_errors() as exc:
        if error_code(exc) in NOT_FOUND:
            return f"no such bucket {bucket!r} (check the name, and AWS_ENDPOINT_URL_S3)"
    return None


@contextmanager
def local_input(uri: str) -> Iterator[Path]:
    """A local path for ``uri``; an S3 object is streamed to a temp file first (parquet
    needs random access to its footer; the download itself is chunked)."""
    if not is_s3(uri):
        yield Path(uri)
        return
    bucket, key = split_s3(uri)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / (Path(key).name or "input.parquet")
        try:
            locations.s3_client().download_file(bucket, key, str(path))
        except io_errors() as exc:
            raise ScoreError(problem(exc, uri)) from exc
        yield path
