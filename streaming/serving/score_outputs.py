"""Where ``score`` writes: the predictions and the rejected rows, each a file that
appears only complete, in the format its name asks for.

``.parquet`` writes parquet, ``.csv`` writes CSV (a header line, then a row per
prediction; an empty field is a null); any other name is refused before
anything is read. Targets that would overwrite the input or each other are
refused too, and an S3 bucket that does not exist is found before the run, not
after it.

A local target is written under a hidden temporary name in its own directory
and renamed over the target (``os.replace``, atomic) on ``commit``; an s3://
target is written to a local temporary file and uploaded on ``commit``.
``abort`` removes the temporary file: a failed run leaves no partial output,
and an earlier output of the same name stays as it was.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from contextlib import suppress
from pathlib import Path, PurePosixPath
from typing import Any

from streaming.serving import locations
from streaming.serving.errors import ScoreError
from streaming.serving.locations import (
    NOT_FOUND,
    error_code,
    io_errors,
    is_s3,
    problem,
    same_file,
    split_s3,
)

#: An output's extension -> its format.
OUTPUT_FORMATS = {".parquet": "parquet", ".csv": "csv"}


def output_format(uri: str, option: str = "--output") -> str:
    """``parquet`` or ``csv``, from the name's extension; ``ScoreError`` for any other."""
    suffix = PurePosixPath(uri).suffix
    found = OUTPUT_FORMATS.get(suffix.lower())
    if found is None:
        given = f"extension {suffix!r}" if suffix else "no extension"
        raise ScoreError(
            f"{option} {uri}: {given}; name the file .parquet or .csv (the name says "
            "which format to write)"
        )
    return found


def default_rejected(output_uri: str) -> str:
    """``preds.parquet`` -> ``preds.rejected.parquet`` (``.csv`` -> ``.rejected.csv``)."""
    suffix = PurePosixPath(output_uri).suffix
    if suffix.lower() in OUTPUT_FORMATS:
        return f"{output_uri[: -len(suffix)]}.rejected{suffix}"
    return f"{output_uri}.rejected.parquet"


def check_targets(input_uri: str, output_uri: str, rejected_uri: str) -> None:
    """Refuse outputs that would overwrite the input or each other, or that name no
    file of a known format (``ScoreError``)."""
    if same_file(input_uri, output_uri):
        raise ScoreError(
            f"--output {output_uri} is the input file: scoring would overwrite it; "
            "write the predictions to another path"
        )
    if same_file(input_uri, rejected_uri):
        raise ScoreError(
            f"the rejected-rows file {rejected_uri} is the input file: scoring would "
            "overwrite it; pass --rejected with another path"
        )
    if same_file(output_uri, rejected_uri):
        raise ScoreError(
            f"the rejected-rows file {rejected_uri} is also --output: one would overwrite "
            "the other; pass --rejected with another path"
        )
    for uri in (output_uri, rejected_uri):
        if not is_s3(uri) and Path(uri).is_dir():
            raise ScoreError(f"output {uri} is a directory; name a file (e.g. {uri}/out.parquet)")
    output_format(output_uri, "--output")
    output_format(rejected_uri, "--rejected")


def check_buckets(*uris: str) -> None:
    """Each s3:// target's bucket exists and can be reached (``ScoreError`` if not), so a
    typo fails before the run rather than after it. A bucket one may write to but not
    look at (403) is left for the upload to judge."""
    for bucket in dict.fromkeys(split_s3(u)[0] for u in uris if is_s3(u)):
        uri = next(u for u in uris if is_s3(u) and split_s3(u)[0] == bucket)
        try:
            locations.s3_client().head_bucket(Bucket=bucket)
        except io_errors() as exc:
            code = error_code(exc)
            if code in ("403", "AccessDenied", "Forbidden"):
                continue
            if code in (*NOT_FOUND, "NoSuchBucket"):
                raise ScoreError(
                    f"cannot write {uri}: no such bucket {bucket!r} (create it, or check the "
                    "name and AWS_ENDPOINT_URL_S3)"
                ) from exc
            raise ScoreError(problem(exc, uri, "write")) from exc


class TableSink:
    """Chunks of columns -> a parquet or CSV file (by its name) that appears only complete."""

    def __init__(self, uri: str, schema: Any) -> None:
        self.uri = uri
        self.schema = schema
        self.format = output_format(uri)
        if is_s3(uri):
            fd, tmp = tempfile.mkstemp(suffix=f".{self.format}")
            os.close(fd)
            self.path = Path(tmp)
        else:
            target = Path(uri)
            self.path = target.parent / f".{target.name}.{secrets.token_hex(6)}.tmp"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.writer = _writer(self.format, self.path, schema)
        except OSError as exc:
            self._remove()
            raise ScoreError(problem(exc, uri, "write")) from exc

    def write(self, columns: dict[str, list]) -> None:
        import pyarrow as pa

        try:
            self.writer.write_table(pa.Table.from_pydict(columns, schema=self.schema))
        except OSError as exc:
            raise ScoreError(problem(exc, self.uri, "write")) from exc

    def commit(self) -> None:
        try:
            self.writer.close()
            if is_s3(self.uri):
                bucket, key = split_s3(self.uri)
                locations.s3_client().upload_file(str(self.path), bucket, key)
                self._remove()
            else:
                os.replace(self.path, self.uri)
        except io_errors() as exc:
            self.abort()
            raise ScoreError(problem(exc, self.uri, "write")) from exc

    def abort(self) -> None:
        with suppress(Exception):  # the file is being discarded anyway
            self.writer.close()
        self._remove()

    def _remove(self) -> None:
        with suppress(OSError):
            self.path.unlink(missing_ok=True)


def _writer(kind: str, path: Path, schema: Any) -> Any:
    """A writer with ``write_table`` and ``close``, for ``kind`` (parquet or csv)."""
    if kind == "csv":
        import pyarrow.csv as pcsv

        return pcsv.CSVWriter(str(path), schema)
    import pyarrow.parquet as pq

    return pq.ParquetWriter(str(path), schema)
