"""``streaming score``: batch scoring of a whole file, with the stream's validation and
features - the run and its command line.

The parts: ``score_inputs`` (the input's format, from its content),
``tlc_columns``/``tlc_times`` (a TLC parquet file read column by column, no
value can raise), ``json_lines`` (lines, local or streamed from S3),
``score_chunk`` (validate, predict, split into predictions and rejects),
``score_outputs`` (files that appear only complete, parquet or CSV by name).
Rows are read, predicted and written chunk by chunk, so memory stays flat
whatever the file's size.

A bad row is rejected, never fatal. A problem with the whole run stops it with
one line on stderr and exit status 2 (``-v`` adds the traceback), and nothing is
written: outputs are written under a temporary name and renamed (S3: uploaded)
only when the run succeeds, so a failed run leaves no partial file and keeps an
earlier one.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from streaming.commandline.parser import CommandParser, positive_int
from streaming.model import LoadedModel
from streaming.serving.errors import ScoreError, report
from streaming.serving.score_chunk import NOT_BAD_INPUT, NOT_JSON, schemas, score_rows
from streaming.serving.score_inputs import JSON_LINES, Input, open_input
from streaming.serving.score_outputs import (
    TableSink,
    check_buckets,
    check_targets,
    default_rejected,
)

__all__ = ["ScoreError", "ScoreStats", "check_targets", "main", "score"]

PROG = "streaming score"

#: The --help text (plain text: argparse prints it as written).
DESCRIPTION = """\
Batch scoring of a whole file, with the stream's validation, features and model.

  streaming score --input data/green_tripdata_2023-02.parquet --output preds.parquet
  streaming score --input s3://bucket/rides.jsonl --output s3://bucket/preds.csv

The input's format is found from its content, whatever its name:
  - a TLC trip file (parquet): lpep_pickup_datetime, PULocationID, DOLocationID,
    trip_distance; the ride_id of a row is its row number in the file;
  - JSON lines: each line the stream's event {"ride": {...}, "ride_id": ...} or
    the course's flat body {"PULocationID": ..., "DOLocationID": ...,
    "trip_distance": ...} (its ride_id, else its line number from 0).
A ride without a pickup time starts when the run starts; the column
pickup_time_source says which time each prediction used ("pickup_datetime" or
"invocation"), and the summary line gives that time (invocation_time).

The output's name says its format: .parquet or .csv. Rejected rows go to a
separate file (by default beside it, same format) with their reason. A bad row is rejected, never
fatal; a problem with the whole run (a missing file, column or bucket, a file
that is neither parquet nor JSON lines, an output that would overwrite the
input) is one line on stderr, exit status 2, and nothing written.
"""

#: A JSON-lines file none of whose first this-many lines is JSON is refused: it is not
#: JSON lines (a CSV file, a text file), and scoring it would only reject every line.
NOT_JSON_LINES_AFTER = 1000


@dataclass
class ScoreStats:
    rows: int = 0
    predicted: int = 0
    rejected: int = 0
    seconds: float = 0.0
    #: rejected rows by reason code
    reasons: Counter[str] = field(default_factory=Counter)
    #: the pickup time (epoch seconds) of rows that give none: the run's start
    invocation_time: float = 0.0

    def add(self, rows: int, good: dict[str, list], bad: dict[str, list]) -> None:
        self.rows += rows
        self.predicted += len(good["ride_id"])
        self.rejected += len(bad["source_row"])
        self.reasons.update(bad["reason"])

    @property
    def json_rows(self) -> int:
        """Rows that were JSON (predicted, or rejected for something else than not being
        JSON)."""
        return self.rows - sum(self.reasons[r] for r in NOT_JSON)


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
    stats = ScoreStats(invocation_time=time.time() if now is None else now)
    check_targets(input_uri, output_uri, rejected_uri)
    if chunk_rows < 1:
        raise ScoreError(f"chunk rows must be at least 1, got {chunk_rows}")
    check_buckets(output_uri, rejected_uri)
    started = time.perf_counter()
    with (
        open_input(input_uri, chunk_rows) as source,
        _outputs(output_uri, rejected_uri) as (sink, rejects),
        _progress_bar(source, progress) as advance,
    ):
        first_line = None
        for rows, done in source.chunks():
            good, bad = score_rows(model, rows, stats.invocation_time)
            sink.write(good)
            if bad["source_row"]:
                rejects.write(bad)
                first_line = first_line or bad["record"][0]
            stats.add(len(rows), good, bad)
            _check_json_lines(source, stats, first_line, at_end=False)
            advance(done)
        _check_json_lines(source, stats, first_line, at_end=True)
        rejects.commit()  # first: once the predictions appear, their rejects are there
        sink.commit()
    stats.seconds = time.perf_counter() - started
    return stats


@contextmanager
def _outputs(output_uri: str, rejected_uri: str) -> Iterator[tuple[TableSink, TableSink]]:
    """Both sinks; if the run fails (or is interrupted), both are discarded."""
    predicted_schema, rejected_schema = schemas()
    sink = TableSink(output_uri, predicted_schema)
    try:
        rejects = TableSink(rejected_uri, rejected_schema)
    except BaseException:
        sink.abort()
        raise
    try:
        yield sink, rejects
    except BaseException:
        rejects.abort()
        sink.abort()
        raise


@contextmanager
def _progress_bar(source: Input, shown: bool) -> Iterator[Any]:
    """A function that moves the bar to ``done`` (of ``source.total``: an ETA).

    Only on a terminal (a log or a pipe gets the summary line alone); a failed run
    erases the bar, leaving its one error line."""
    if not shown:
        yield lambda done: None
        return
    from tqdm import tqdm

    in_bytes = source.unit == "B"
    bar = tqdm(
        total=source.total,
        unit=source.unit,
        unit_scale=in_bytes,
        unit_divisor=1024 if in_bytes else 1000,
        desc="score",
        file=sys.stderr,
        disable=None,  # None: off unless stderr is a terminal
    )
    try:
        yield lambda done: bar.update(min(done, source.total) - bar.n)
    except BaseException:
        bar.leave = False
        raise
    finally:
        bar.close()


def _check_json_lines(source: Input, stats: ScoreStats, first_line: str | None, at_end: bool):
    """Refuse a file read as JSON lines that is not (``NOT_JSON_LINES_AFTER``)."""
    if source.format != JSON_LINES or stats.rows == 0 or stats.json_rows:
        return
    if not at_end and stats.rows < NOT_JSON_LINES_AFTER:
        return
    lines = f"its {stats.rows} lines" if at_end else f"the first {stats.rows} lines"
    if stats.rows == 1:
        lines = "its one line"
    hint = ""
    if first_line is not None and "," in first_line:
        hint = "; it looks like CSV: convert it to parquet (TLC columns) or JSON lines"
    raise ScoreError(
        f"cannot read {source.uri}: neither parquet nor JSON lines (it does not start with "
        f"parquet's PAR1, and none of {lines} is JSON){hint}"
    )


# -- the command line ---------------------------------------------------------------------


def parser() -> CommandParser:
    p = CommandParser(PROG, DESCRIPTION)
    p.add_argument(
        "--input",
        required=True,
        help="TLC parquet or JSON lines (found from the content, not the name): a path or "
        "s3://bucket/key (AWS_ENDPOINT_URL_S3 for an emulator)",
    )
    p.add_argument(
        "--output", required=True, help="the predictions: a .parquet or .csv path, or s3://"
    )
    p.add_argument(
        "--rejected",
        help="the rejected rows, .parquet or .csv (default: <output>.rejected.<extension>)",
    )
    p.add_argument(
        "--model", help="model location (default: MODEL_LOCATION, else the shipped models/)"
    )
    p.add_argument(
        "--chunk-rows",
        type=positive_int,
        default=50_000,
        help="rows read, predicted and written at a time",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    from streaming.model import ModelLoadError

    args = parser().parse_args(argv)
    try:
        return _run(args)
    except (ScoreError, ModelLoadError) as exc:
        return report(PROG, exc, args.verbose)


def _run(args: Any) -> int:
    from streaming.consumer.config import Settings
    from streaming.model import load_model

    rejected = args.rejected or default_rejected(args.output)
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
    failed = sum(stats.reasons[r] for r in NOT_BAD_INPUT)
    if failed:
        print(
            f"{PROG}: warning: {failed} valid rows got no prediction (the model "
            f"failed on them: a bug, not bad input); they are in {rejected} with the error",
            file=sys.stderr,
        )
    print(json.dumps(_summary(stats, model)))
    return 0


def _summary(stats: ScoreStats, model: LoadedModel) -> dict[str, Any]:
    return {
        "rows": stats.rows,
        "predicted": stats.predicted,
        "rejected": stats.rejected,
        "rejected_by_reason": dict(sorted(stats.reasons.items())),
        "seconds": round(stats.seconds, 2),
        "rows_per_s": round(stats.rows / stats.seconds) if stats.seconds else None,
        "model_version": model.version,
        "invocation_time": stats.invocation_time,
    }
