"""``streaming batch``: score the rides that started on one New York day, database to
database, with a report.

    streaming batch --db sqlite:///batch.db --date 2021-01-15 --report report.html
    streaming batch --db postgresql://batch@db:5432/rides --from 2021-01-01 --to 2021-01-31
    streaming batch import-tlc --db sqlite:///batch.db --month 2021-01
    streaming batch report --db sqlite:///batch.db --date 2021-01-15 --report report.html

Reads the table ``rides`` (ride_id, pickup_datetime in New York local time,
pu_location_id, do_location_id, trip_distance, dropoff_datetime; rename any
with --table and --column ROLE=NAME) and writes ride_duration_predictions and
ride_duration_rejects, replacing that day's rows of the model version in one
transaction: a re-run gives the same rows, a failed run leaves the old ones.
Without --date it scores yesterday in New York. --output also writes the
course's parquet layout (taxi_type=green/year=/month=/day=/VERSION.parquet,
local or s3://). Rejected rows carry the stream's reason codes.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from streaming.commandline.errors import CommandError, usage_error
from streaming.commandline.parser import CommandParser, positive_int
from streaming.tools.common import safe_url

DEFAULT_DB = "sqlite:///batch.db"
REPO = Path(__file__).resolve().parents[2]
ZONES = REPO / "data" / "taxi_zone_lookup.csv"
SUBCOMMANDS = ("import-tlc", "report")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "import-tlc":
        return import_main(argv[1:])
    if argv and argv[0] == "report":
        return report_main(argv[1:])
    return score_main(argv)


# -- arguments ---------------------------------------------------------------------


def _db(p: CommandParser) -> None:
    p.add_argument(
        "--db",
        default=DEFAULT_DB,
        metavar="URL",
        help=f"the database: sqlite:///FILE or postgresql://... (default: {DEFAULT_DB})",
    )


def _day(text: str) -> Any:
    from streaming.batch.days import DayError, parse_day

    try:
        return parse_day(text)
    except DayError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _mapping(text: str) -> tuple[str, str]:
    from streaming.batch.input_table import INPUT_COLUMNS

    role, sep, name = text.partition("=")
    if not sep or role not in INPUT_COLUMNS or not name.strip():
        raise argparse.ArgumentTypeError(
            f"{text!r}: give ROLE=COLUMN with ROLE one of {', '.join(INPUT_COLUMNS)}"
        )
    return role, name.strip()


def score_parser() -> CommandParser:
    p = CommandParser("streaming batch", __doc__ or "")
    _db(p)
    when = p.add_mutually_exclusive_group()
    when.add_argument(
        "--date", type=_day, help="the day, YYYY-MM-DD (default: yesterday in New York)"
    )
    when.add_argument("--from", dest="first", type=_day, metavar="DATE", help="backfill from DATE")
    p.add_argument(
        "--to", dest="last", type=_day, metavar="DATE", help="backfill to DATE (included)"
    )
    p.add_argument("--model", help="model location (default: the shipped models/)")
    p.add_argument("--table", default="rides", help="the input table, optionally schema.table")
    p.add_argument(
        "--column",
        type=_mapping,
        action="append",
        default=[],
        metavar="ROLE=NAME",
        help="the input's column for ROLE (repeatable; default: the role's own name), "
        "e.g. pickup_datetime=lpep_pickup_datetime",
    )
    p.add_argument(
        "--no-dropoff", action="store_true", help="the table has no drop-off column (no actuals)"
    )
    p.add_argument("--chunk-rows", type=positive_int, default=10_000, help="rows per read")
    p.add_argument(
        "--output", metavar="PREFIX", help="also write parquet under PREFIX (dir or s3://)"
    )
    p.add_argument(
        "--skip-table", action="store_true", help="write only --output, not the predictions table"
    )
    p.add_argument(
        "-q", "--quiet", action="store_true", help="one line per day (a backfill's progress)"
    )
    p.add_argument(
        "--report",
        metavar="FILE",
        help="write the HTML report to FILE (a range: one per day, the date before the suffix); "
        "with --output, also next to each day's parquet",
    )
    return p


def import_parser() -> CommandParser:
    p = CommandParser(
        "streaming batch import-tlc",
        "Load a TLC green-taxi month into the rides table (ride id = row number in the "
        "month's file, the project's one rule).",
    )
    _db(p)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--month", help="YYYY-MM: data/green_tripdata_YYYY-MM.parquet")
    src.add_argument("--file", type=Path, help="a TLC parquet file")
    p.add_argument("--data-dir", type=Path, default=REPO / "data", help="where --month looks")
    p.add_argument("--table", default="rides", help="the table to load")
    p.add_argument("--replace", action="store_true", help="empty the table first")
    return p


def report_parser() -> CommandParser:
    p = CommandParser(
        "streaming batch report",
        "Write the HTML report of a day already scored, from the database.",
    )
    _db(p)
    p.add_argument("--date", type=_day, required=True, help="the day, YYYY-MM-DD")
    p.add_argument("--model", help="the model whose version to report (default: shipped models/)")
    p.add_argument("--report", required=True, metavar="FILE", help="the HTML file to write")
    return p


# -- commands ----------------------------------------------------------------------


def score_main(argv: list[str]) -> int:
    from streaming.batch.days import ServiceDay, day_range, yesterday

    args = score_parser().parse_args(argv)
    if args.first is not None and args.last is None:
        raise usage_error("--from needs --to (the last day of the backfill)")
    if args.last is not None and args.first is None:
        raise usage_error("--to needs --from (the first day of the backfill)")
    if args.skip_table and not args.output:
        raise usage_error("--skip-table writes nothing without --output PREFIX")
    days = (
        day_range(args.first, args.last)
        if args.first is not None
        else [ServiceDay(args.date or yesterday())]
    )
    spec = _spec(args)
    model = _model(args.model)
    engine = _engine(args.db)
    _check_input(engine, spec)
    if args.output:
        _check_output(args.output)
    for day in days:
        _score_one(engine, model, spec, day, args)
    return 0


def _score_one(engine: Any, model: Any, spec: Any, day: Any, args: argparse.Namespace) -> Any:
    from streaming.batch.job import score_day
    from streaming.batch.parquet_output import DayParquet

    sink = DayParquet(args.output, day, model.version) if args.output else None
    result = _database_call(
        args.db,
        lambda: score_day(
            engine,
            model,
            spec,
            day,
            chunk_rows=args.chunk_rows,
            write_table=not args.skip_table,
            sink=sink,
        ),
    )
    _print_summary(result, args.db, sink.uri if sink else None, quiet=args.quiet)
    if args.report:
        path = _report_path(args.report, day, many=args.first is not None)
        _write_report(path, engine, day, model.version, result.run_id, result.summary)
        print(f"  report: {path}")
        if sink is not None:  # and next to the day's parquet, for whoever reads that
            beside = _copy_report(path, args.output, day, model.version)
            print(f"  report: {beside}")
    sys.stdout.flush()
    return result


def _print_summary(result: Any, db: str, parquet: str | None, *, quiet: bool = False) -> None:
    s = result.summary
    rate = result.rides_read / result.seconds if result.seconds > 0 else 0.0
    print(
        f"streaming batch: {result.day} ({result.day.hours} h): {result.rides_read:,} rides read, "
        f"{s.predicted:,} predicted, {s.rejected:,} rejected in {result.seconds:.2f} s "
        f"({rate:,.0f} rows/s)"
    )
    t = s.total
    if quiet:
        pass
    elif t.rides:
        line = f"  mean predicted {t.mean_predicted:.2f} min"
        if t.with_actual:
            line += f"; RMSE {t.rmse:.2f} min, MAE {t.mae:.2f} min on {t.with_actual:,} rides"
            line += " with a 1-60 min actual duration"
        print(line)
    if s.rejects and not quiet:
        print("  rejected: " + ", ".join(f"{k} {v:,}" for k, v in s.rejects.most_common()))
    if not quiet:
        print(f"  model {result.model_version}; database {safe_url(db)}")
    if parquet and not quiet:
        print(f"  parquet: {parquet}")
    if not result.rides_read:
        print(
            f"streaming batch: warning: no rides started on {result.day} in the input table "
            "(check --date and --table)",
            file=sys.stderr,
        )


def _report_path(pattern: str, day: Any, *, many: bool) -> Path:
    path = Path(pattern)
    if many:
        suffix = path.suffix or ".html"
        path = path.with_name(f"{path.stem}.{day}{suffix}")
    return path


def _write_report(
    path: Path, engine: Any, day: Any, version: str, run_id: Any, summary: Any
) -> None:
    from streaming.batch import report_data
    from streaming.batch.report import ReportInput, render

    data = ReportInput(
        day=day,
        model_version=version,
        run_id=run_id,
        summary=summary,
        history=report_data.history(engine, day, version),
        zone_names=report_data.zone_names(ZONES),
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(render(data), encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        raise CommandError(f"cannot write the report {path}: {exc.strerror or exc}") from exc


def _copy_report(path: Path, prefix: str, day: Any, version: str) -> str:
    """The report, copied next to the day's parquet (a directory or s3://)."""
    import shutil

    from streaming.batch.parquet_output import day_uri
    from streaming.serving import locations
    from streaming.serving.errors import ScoreError

    target = day_uri(prefix, day, version, ".report.html")
    try:
        if locations.is_s3(target):
            bucket, key = locations.split_s3(target)
            extra = {"ContentType": "text/html; charset=utf-8"}
            locations.s3_client().upload_file(str(path), bucket, key, ExtraArgs=extra)
        else:
            shutil.copyfile(path, target)
    except locations.io_errors() as exc:
        raise ScoreError(locations.problem(exc, target, "write")) from exc
    return target


def import_main(argv: list[str]) -> int:
    from streaming.batch.tlc_import import import_tlc

    args = import_parser().parse_args(argv)
    path = args.file or args.data_dir / f"green_tripdata_{args.month}.parquet"
    if not path.is_file():
        raise usage_error(f"no TLC file {path}: give --file, or --month with --data-dir")
    engine = _engine(args.db)
    started = time.monotonic()
    done = _database_call(
        args.db, lambda: import_tlc(engine, path, table_name=args.table, replace=args.replace)
    )
    print(
        f"streaming batch import-tlc: {done.rows:,} rides from {path.name} into {args.table} "
        f"in {time.monotonic() - started:.1f} s (pickups {done.first_pickup} to "
        f"{done.last_pickup}); database {safe_url(args.db)}"
    )
    return 0


def report_main(argv: list[str]) -> int:
    from streaming.batch import report_data
    from streaming.batch.days import ServiceDay

    args = report_parser().parse_args(argv)
    model = _model(args.model)
    engine = _engine(args.db)
    day = ServiceDay(args.date)
    summary = _database_call(args.db, lambda: report_data.day_summary(engine, day, model.version))
    if not summary.predicted and not summary.rejected:
        raise CommandError(
            f"{day} has no scored rows of model version {model.version} in {safe_url(args.db)}: "
            f"score it first (streaming batch --date {day})"
        )
    path = Path(args.report)
    _write_report(path, engine, day, model.version, None, summary)
    print(f"streaming batch report: {path}")
    return 0


# -- helpers -----------------------------------------------------------------------


def _spec(args: argparse.Namespace) -> Any:
    from streaming.batch.input_table import InputSpec

    try:
        return InputSpec(args.table, dict(args.column), no_dropoff=args.no_dropoff)
    except ValueError as exc:
        raise usage_error(f"--column: {exc}") from exc


def _model(location: str | None) -> Any:
    from streaming.consumer.config import SHIPPED_MODEL_DIR
    from streaming.model import ModelLoadError, load_model

    try:
        return load_model(location or SHIPPED_MODEL_DIR)
    except ModelLoadError as exc:
        raise CommandError(f"{exc} (give --model with a model directory)") from exc


def _engine(url: str) -> Any:
    from streaming.database.engine import StoreError, open_store

    try:
        return _database_call(url, lambda: open_store(url, lock_timeout_s=30))
    except StoreError as exc:
        raise usage_error(str(exc)) from exc


def _database_call(url: str, call: Any) -> Any:
    """Run ``call``; a database error becomes one line naming the database and the fix."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        return call()
    except SQLAlchemyError as exc:
        first = str(getattr(exc, "orig", exc)).strip().splitlines()[0][:300]
        raise CommandError(
            f"database {safe_url(url)}: {first} (is it running and reachable, and is --db right?)"
        ) from exc


def _check_input(engine: Any, spec: Any) -> None:
    """The input table and its mapped columns exist: a clear line before any work."""
    from sqlalchemy import inspect

    from streaming.batch.input_table import INPUT_COLUMNS

    def check() -> None:
        schema, _, name = spec.table.rpartition(".")
        inspector = inspect(engine)
        if not inspector.has_table(name, schema=schema or None):
            raise CommandError(
                f"no table {spec.table!r} in the database: load rides first (streaming batch "
                "import-tlc) or name the table with --table"
            )
        present = {c["name"] for c in inspector.get_columns(name, schema=schema or None)}
        wanted = [r for r in INPUT_COLUMNS if not (spec.no_dropoff and r == "dropoff_datetime")]
        missing = [f"{r} ({spec.name_of(r)})" for r in wanted if spec.name_of(r) not in present]
        if missing:
            raise CommandError(
                f"table {spec.table!r} has no column for {', '.join(missing)}: map each with "
                "--column ROLE=NAME (or --no-dropoff if it has no drop-off time)"
            )

    _database_call(str(engine.url), check)


def _check_output(prefix: str) -> None:
    from streaming.serving.locations import is_s3
    from streaming.serving.score_outputs import check_buckets

    if is_s3(prefix):
        check_buckets(prefix.rstrip("/") + "/x.parquet")
    elif Path(prefix).exists() and not Path(prefix).is_dir():
        raise usage_error(f"--output {prefix} is a file: give a directory or s3://bucket/prefix")
