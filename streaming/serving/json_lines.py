"""A JSON-lines file (local, or an S3 object read as a stream, never whole) -> rows.

A line is split on ``\\n`` only (locally and from S3 alike); lines holding
nothing but JSON whitespace are skipped; every other line is a row
(``source_row`` = its line number from 0), whatever its bytes: scoring decodes
and validates it, and rejects what is not a ride.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path

from streaming.serving import locations
from streaming.serving.errors import ScoreError
from streaming.serving.locations import io_errors, is_s3, problem, reading, split_s3
from streaming.serving.rows import Row

#: Bytes read from S3 at a time.
_S3_CHUNK = 1 << 16


def jsonl_rows(uri: str, chunk_rows: int) -> Iterator[list[Row]]:
    """Lines in chunks of rows."""
    for rows, _ in jsonl_chunks(uri, chunk_rows):
        yield rows


def jsonl_chunks(uri: str, chunk_rows: int) -> Iterator[tuple[list[Row], int]]:
    """Lines in chunks of rows, each with the bytes of the file read so far (progress)."""
    with ExitStack() as stack:
        try:
            if is_s3(uri):
                bucket, key = split_s3(uri)
                body = locations.s3_client().get_object(Bucket=bucket, Key=key)["Body"]
                stack.callback(body.close)
                lines: Iterable[bytes] = split_lines(body.iter_chunks(_S3_CHUNK))
            else:
                lines = stack.enter_context(Path(uri).open("rb"))
        except io_errors() as exc:
            raise ScoreError(problem(exc, uri)) from exc
        rows: list[Row] = []
        consumed = 0
        for number, line in enumerate(reading(lines, uri)):
            consumed += len(line) + (not line.endswith(b"\n"))
            if line.strip(b" \t\r\n"):
                rows.append(Row(number, line.rstrip(b"\r\n")))
                if len(rows) == chunk_rows:
                    yield rows, consumed
                    rows = []
        if rows:
            yield rows, consumed


def split_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
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
