"""``streaming evaluate``: join predictions with what really happened, by hour and zone.

Predictions come from a JSON-lines file (``streaming tail --jsonl``) or straight
from the predictions stream. The truth comes from ``--actuals`` (a CSV or
parquet file of the app's finished rides: ``ride_id`` and ``duration`` in
minutes, or ``pickup_datetime`` and ``dropoff_datetime``; ``PULocationID`` for
the zone breakdown) or from a TLC month, joined on ``ride_id`` = the trip's row
in the month's file - how ``streaming send``, ``make run`` and ``streaming
score`` number a TLC trip. The report gives the RMSE overall, by pickup hour
and by pickup zone (the worst ones), next to the model card's figure for an
unseen month, and flags drift when the live RMSE is clearly worse - before
users notice.

With --compare it judges a shadow (challenger) model against the champion
instead: the shadow's predictions (--shadow or --shadow-stream), both joined on
the same input record or ride and then with the actual durations - also from
ride_finished events (--finished or --finished-stream) - give each model's
RMSE and MAE on the same rides, the paired difference with a 95% bootstrap
confidence interval, overall, by pickup hour and by zone group, and a verdict:
promote, keep, or not enough rides yet (--min-rides, --min-improvement).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from streaming.commandline.errors import USAGE, CommandError, usage_error
from streaming.commandline.parser import CommandParser, positive_int
from streaming.tools.common import (
    DATA_DIR,
    DATA_DIR_HELP,
    PROJECT_ROOT,
    add_aws_options,
    existing_file,
    kinesis_client,
    load_tlc_trips,
    month_arg,
    tlc_month_file,
    where,
)
from streaming.tools.compare import Rule
from streaming.tools.stream_io import require_stream

#: live RMSE above the model card's unseen-month RMSE by this factor = drift
DRIFT_FACTOR = 1.15


class NoMatch(ValueError):
    """No prediction names a ride of the actuals."""


def predictions_from_jsonl(path: Path) -> Iterable[dict[str, Any]]:
    """The prediction events of a JSON-lines file (``tail --jsonl``'s, or plain events)."""
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError:
                raise CommandError(
                    f"--predictions {path}: line {number} is not JSON (give the JSON lines "
                    "of streaming tail --jsonl)",
                    USAGE,
                ) from None
            if isinstance(item, dict):
                event = item.get("event", item)  # tail --jsonl wraps events; plain ones too
                if isinstance(event, dict):
                    yield event


#: What an actuals file needs: a ride id and either the duration or both times.
ACTUALS_COLUMNS = "ride_id and duration (minutes), or ride_id, pickup_datetime and dropoff_datetime"


def actuals_frame(path: Path) -> Any:
    """The app's finished rides, indexed by ride_id, with ``duration`` in minutes."""
    import pandas as pd

    frame = _read_table(path)
    has_times = {"pickup_datetime", "dropoff_datetime"} <= set(frame.columns)
    if "ride_id" not in frame or not ("duration" in frame or has_times):
        columns = ", ".join(str(c)[:40] for c in frame.columns[:12]) or "none"
        raise CommandError(
            f"--actuals {path}: needs the columns {ACTUALS_COLUMNS}; it has {columns}",
            USAGE,
        )
    if "duration" not in frame:
        try:
            pickup = pd.to_datetime(frame["pickup_datetime"])
            dropoff = pd.to_datetime(frame["dropoff_datetime"])
        except (ValueError, TypeError) as exc:
            raise CommandError(
                f"--actuals {path}: pickup_datetime/dropoff_datetime are not times ({exc})",
                USAGE,
            ) from None
        frame["duration"] = (dropoff - pickup).dt.total_seconds() / 60.0
        frame["pickup_hour"] = pickup.dt.hour
    return frame.set_index("ride_id")


def _read_table(path: Path) -> Any:
    """A parquet file (recognised by its magic bytes, whatever its name) or a CSV."""
    import pandas as pd

    existing_file(path, "--actuals")
    with path.open("rb") as fh:
        parquet = fh.read(4) == b"PAR1"
    try:
        return pd.read_parquet(path) if parquet else pd.read_csv(path)
    except Exception as exc:
        kind = "parquet" if parquet else "CSV"
        text = " ".join(str(exc).split())[:200]
        raise CommandError(
            f"--actuals {path}: cannot read it as {kind} ({type(exc).__name__}: {text}); "
            "give a CSV or parquet file",
            USAGE,
        ) from exc


def evaluate(
    predictions: Iterable[dict[str, Any]],
    trips: Any,
    *,
    zones: Any = None,
    min_rides: int = 30,
    worst: int = 10,
    reference_rmse: float | None = None,
) -> dict[str, Any]:
    """RMSE of the predictions against the trips' real durations (joined on ride_id)."""
    joined = join_with_actuals(predictions, trips)
    overall = _rmse(joined)
    report: dict[str, Any] = {
        "rides": len(joined),
        "rmse": overall,
        "mean_error": float(joined["error"].mean()),
        "by_hour": by_pickup_hour(joined),
        "worst_zones": by_pickup_zone(joined, zones, min_rides)[:worst],
        "reference_rmse": reference_rmse,
    }
    if reference_rmse:
        report["drift"] = overall > reference_rmse * DRIFT_FACTOR
    return report


def join_with_actuals(predictions: Iterable[dict[str, Any]], trips: Any) -> Any:
    """The trips that have a prediction, with ``predicted`` and ``error`` columns.

    The stream is at-least-once, so a ride may be predicted twice: the first
    prediction counts. Events whose ride_id is not a ride of ``trips`` are left
    out (another producer's rides, or a malformed event), and none matching at
    all is an error rather than an empty report."""
    predicted: dict[int, float] = {}
    seen = 0
    for event in predictions:
        seen += 1
        pred = event.get("prediction") if isinstance(event, dict) else None
        if not isinstance(pred, dict):
            continue
        ride_id, minutes = pred.get("ride_id"), pred.get("ride_duration")
        if not isinstance(minutes, int | float) or isinstance(ride_id, bool):
            continue
        if isinstance(ride_id, int | str) and ride_id in trips.index:
            predicted.setdefault(ride_id, float(minutes))  # the first of duplicates counts
    if not predicted:
        raise NoMatch(f"none of the {seen} predictions has the ride_id of a ride")
    joined = trips.loc[list(predicted)].copy()
    joined["predicted"] = [predicted[i] for i in joined.index]
    joined["error"] = joined["predicted"] - joined["duration"]
    return joined


def by_pickup_hour(joined: Any) -> list[dict[str, Any]]:
    """Per pickup hour, when the actuals have one: drift often starts at some hours."""
    if "pickup_hour" not in joined:
        return []
    return [{"hour": int(h), **_stats(g)} for h, g in joined.groupby("pickup_hour")]


def by_pickup_zone(joined: Any, zones: Any, min_rides: int) -> list[dict[str, Any]]:
    """Per pickup zone with at least ``min_rides`` rides, worst RMSE first.

    The floor keeps a zone of three rides from topping the list by chance;
    ``zones`` (the TLC zone lookup) adds the borough and zone name when given."""
    if "PULocationID" not in joined:
        return []
    by_zone = []
    for zone, g in joined.groupby("PULocationID"):
        if len(g) >= min_rides:
            by_zone.append(
                {"PULocationID": int(zone), "zone": _zone_name(zones, zone), **_stats(g)}
            )
    by_zone.sort(key=lambda z: -z["rmse"])
    return by_zone


def _zone_name(zones: Any, zone: Any) -> str | None:
    if zones is not None and zone in zones.index:
        return f"{zones.at[zone, 'Borough']} / {zones.at[zone, 'Zone']}"
    return None


def _rmse(frame: Any) -> float:
    return float(np.sqrt(np.mean(frame["error"] ** 2)))


def _stats(frame: Any) -> dict[str, Any]:
    return {
        "rides": len(frame),
        "rmse": _rmse(frame),
        "mean_error": float(frame["error"].mean()),
    }


def print_report(report: dict[str, Any], out: Any = sys.stdout) -> None:
    ref = report["reference_rmse"]
    line = (
        f"{report['rides']} rides: RMSE {report['rmse']:.2f} min, mean error "
        f"{report['mean_error']:+.2f} min"
    )
    if ref:
        verdict = "DRIFT" if report["drift"] else "ok"
        line += f" (model card, unseen month: {ref:.2f}) -> {verdict}"
    print(line, file=out)
    print("\nby pickup hour:  hour  rides   RMSE  mean error", file=out)
    for h in report["by_hour"]:
        print(
            f"                 {h['hour']:>4} {h['rides']:>6} {h['rmse']:>6.2f} "
            f"{h['mean_error']:>+10.2f}",
            file=out,
        )
    print("\nworst pickup zones:", file=out)
    for z in report["worst_zones"]:
        print(
            f"  {z['PULocationID']:>3} {z['zone'] or '':<45} {z['rides']:>5} rides "
            f"RMSE {z['rmse']:.2f}",
            file=out,
        )


def build_parser() -> CommandParser:
    p = CommandParser("streaming evaluate", __doc__ or "")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--predictions",
        type=Path,
        metavar="FILE.jsonl",
        help="predictions as JSON lines, e.g. from streaming tail --jsonl (default: none)",
    )
    src.add_argument(
        "--stream",
        metavar="STREAM",
        help="read the predictions from this stream, from TRIM_HORIZON (default: none)",
    )
    truth = p.add_mutually_exclusive_group()
    truth.add_argument(
        "--actuals",
        type=Path,
        metavar="FILE",
        help="CSV/parquet of finished rides: ride_id + duration (or pickup_ and "
        "dropoff_datetime) [+ PULocationID] (default: the TLC --month)",
    )
    truth.add_argument(
        "--finished",
        type=Path,
        metavar="FILE.jsonl",
        help="--compare: ride_finished events (schemas/ride_finished.v1.json) as JSON lines "
        "are the truth (default: the TLC --month)",
    )
    truth.add_argument(
        "--finished-stream",
        metavar="STREAM",
        help="--compare: read ride_finished events from this stream, from TRIM_HORIZON "
        "(default: the TLC --month)",
    )
    truth.add_argument(
        "--month",
        type=month_arg,
        metavar="YYYY-MM",
        default="2023-02",
        help="TLC month YYYY-MM in --data-dir whose trips are the truth, ride_id = the "
        "trip's row in the file (as send and score number them)",
    )
    p.add_argument("--data-dir", type=Path, metavar="DIR", help=DATA_DIR_HELP)
    p.add_argument(
        "--model",
        type=Path,
        metavar="DIR",
        help="model directory whose model card RMSE is the reference (default: models/ "
        "of the project)",
    )
    p.add_argument(
        "--min-rides",
        type=positive_int,
        metavar="N",
        help="rides a zone needs to be listed (default: 30); with --compare, finished rides "
        f"both models scored before there is a verdict (default: {COMPARE_RULE.min_rides})",
    )
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    add_compare_options(p)
    add_aws_options(p)
    return p


def add_compare_options(p: CommandParser) -> None:
    """--compare and the options only it takes (their defaults are None: given or not)."""
    p.add_argument(
        "--compare",
        action="store_true",
        help="judge the shadow model against the champion (--predictions or --stream) on the "
        "same rides, and say whether to promote it",
    )
    shadow = p.add_mutually_exclusive_group()
    shadow.add_argument(
        "--shadow",
        type=Path,
        metavar="FILE.jsonl",
        help="--compare: the shadow's predictions as JSON lines (default: none)",
    )
    shadow.add_argument(
        "--shadow-stream",
        metavar="STREAM",
        help="--compare: read the shadow's predictions from this stream, from TRIM_HORIZON "
        "(default: none)",
    )
    p.add_argument(
        "--min-improvement",
        type=percent_arg,
        metavar="PCT",
        help="--compare: how much lower the shadow's RMSE must be, in percent of the "
        f"champion's, to promote it (default: {COMPARE_RULE.min_improvement * 100:g})",
    )
    p.add_argument(
        "--resamples",
        type=resamples_arg,
        metavar="N",
        help=f"--compare: bootstrap resamples, {MIN_RESAMPLES}-{MAX_RESAMPLES} "
        f"(default: {COMPARE_RULE.resamples})",
    )
    p.add_argument(
        "--seed",
        type=seed_arg,
        metavar="N",
        help=f"--compare: the bootstrap's random seed (default: {COMPARE_RULE.seed})",
    )


#: the promotion rule's defaults (compare.Rule): --min-rides, --min-improvement, ...
COMPARE_RULE = Rule()
MIN_RESAMPLES, MAX_RESAMPLES = 100, 100_000
#: the options only --compare takes, as (attribute, option)
COMPARE_ONLY = (
    ("shadow", "--shadow"),
    ("shadow_stream", "--shadow-stream"),
    ("finished", "--finished"),
    ("finished_stream", "--finished-stream"),
    ("min_improvement", "--min-improvement"),
    ("resamples", "--resamples"),
    ("seed", "--seed"),
)


def percent_arg(text: str) -> float:
    """A percentage 0 <= p < 100 (a trailing % allowed) -> the fraction."""
    try:
        value = float(text.strip().removesuffix("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a percentage: {text!r} (e.g. 1 or 0.5)") from None
    if not 0 <= value < 100:
        raise argparse.ArgumentTypeError(f"a percentage 0 or more and below 100, got {text}")
    return value / 100


def resamples_arg(text: str) -> int:
    value = positive_int(text)
    if not MIN_RESAMPLES <= value <= MAX_RESAMPLES:
        raise argparse.ArgumentTypeError(
            f"give {MIN_RESAMPLES}-{MAX_RESAMPLES} resamples, got {value}"
        )
    return value


def seed_arg(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"a seed is 0 to 2^63-1, got {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    check_mode(args)
    if args.compare:
        return run_compare(args)
    if args.predictions:
        existing_file(args.predictions, "--predictions")
    trips = _truth(args)
    predictions = _predictions(args)
    data_dir = DATA_DIR if args.data_dir is None else args.data_dir
    zones = None
    lookup = data_dir / "taxi_zone_lookup.csv"
    if lookup.is_file():
        import pandas as pd

        zones = pd.read_csv(lookup).set_index("LocationID")
    reference = None
    meta = (PROJECT_ROOT / "models" if args.model is None else args.model) / "metadata.json"
    if meta.is_file():
        reference = json.loads(meta.read_text())["metrics"].get("holdout_rmse")
    try:
        report = evaluate(
            predictions,
            trips,
            zones=zones,
            min_rides=args.min_rides or 30,
            reference_rmse=reference,
        )
    except NoMatch as exc:
        truth = f"--actuals {args.actuals}" if args.actuals else f"the TLC month {args.month}"
        raise CommandError(
            f"{exc} of {truth}: are both from the same rides? (TLC rides are numbered by "
            "their row in the month's file, as streaming send numbers them)"
        ) from None
    if args.json:
        print(json.dumps(report))
    else:
        print_report(report)
    sys.stdout.flush()  # a closed pipe (evaluate | head) is met here, inside the command
    return 0


def check_mode(args: Any) -> None:
    """An option of the other mode is a mistake, not something silently ignored."""
    if not args.compare:
        for attr, option in COMPARE_ONLY:
            if getattr(args, attr) is not None:
                raise usage_error(
                    f"{option} is for --compare: add --compare to judge a shadow model, or "
                    f"leave {option} out"
                )
    elif args.model is not None:
        raise usage_error(
            "--model is the drift reference of evaluate without --compare; leave it out "
            "(--compare judges two models' predictions against each other)"
        )
    elif args.shadow is None and args.shadow_stream is None:
        raise usage_error(
            "--compare needs the shadow's predictions: give --shadow FILE.jsonl or "
            "--shadow-stream STREAM"
        )


def _truth(args: Any) -> Any:
    if args.actuals:
        return actuals_frame(args.actuals)
    return load_tlc_trips(tlc_month_file(args.data_dir, args.month), "--month")


def _predictions(args: Any) -> Iterable[dict[str, Any]]:
    if args.predictions:
        return predictions_from_jsonl(args.predictions)
    from streaming.esm.reader import StartingPosition
    from streaming.tools.replay import read_stream

    client = kinesis_client(args)
    require_stream(client, args.stream, "--stream", where(args))
    return (json.loads(r["Data"]) for r in read_stream(client, args.stream, StartingPosition()))


# -- --compare: the wiring (the statistics and the report are in tools/compare.py) ----


def run_compare(args: Any) -> int:
    """Read both models' predictions and the actuals, compare, print the report."""
    from streaming.tools import compare, compare_report

    files = ((args.predictions, "--predictions"), (args.shadow, "--shadow"))
    for path, option in (*files, (args.finished, "--finished")):
        if path is not None:
            existing_file(path, option)
    client = _compare_client(args)
    actuals, truth = _compare_actuals(args, client)
    champion = _side(args.predictions, args.stream, "--predictions", "--stream", client)
    shadow = _side(args.shadow, args.shadow_stream, "--shadow", "--shadow-stream", client)
    rule = Rule(
        min_rides=args.min_rides or COMPARE_RULE.min_rides,
        min_improvement=_given(args.min_improvement, COMPARE_RULE.min_improvement),
        resamples=args.resamples or COMPARE_RULE.resamples,
        seed=_given(args.seed, COMPARE_RULE.seed),
    )
    try:
        report = compare.compare(champion, shadow, actuals, zones=_zone_groups(args), rule=rule)
    except compare.NoPairs as exc:
        raise CommandError(
            f"{exc}: are both from the same input stream? (the shadow scores the rides of "
            "the champion's input, with the same source and ride_id)"
        ) from None
    if truth["static"] and report["rides"]["compared"] == 0:
        raise CommandError(
            f"none of the {report['rides']['scored_by_both']:,} rides scored by both has the "
            f"ride_id of a ride of {truth['source']}: are both from the same rides? (TLC rides "
            "are numbered by their row in the month's file, as streaming send numbers them)"
        )
    report["actuals"] = {k: v for k, v in truth.items() if k != "static"}
    if args.json:
        print(json.dumps(report, allow_nan=False))
    else:
        print(compare_report.format_report(report))
    sys.stdout.flush()  # a closed pipe (evaluate | head) is met here, inside the command
    return 0


def _given(value: Any, default: Any) -> Any:
    return default if value is None else value


def _compare_client(args: Any) -> Any:
    """A Kinesis client if a stream is read, after checking every stream named exists:
    a wrong name stops the command before anything is read."""
    named = [
        (name, option)
        for name, option in (
            (args.stream, "--stream"),
            (args.shadow_stream, "--shadow-stream"),
            (args.finished_stream, "--finished-stream"),
        )
        if name
    ]
    if not named:
        return None
    client = kinesis_client(args)
    for name, option in named:
        require_stream(client, name, option, where(args))
    return client


def _records(client: Any, stream: str) -> Iterable[dict[str, Any]]:
    from streaming.tools.stream_io import read_all

    return (record for _, record in read_all(client, stream))


def _side(path: Path | None, stream: str | None, file_opt: str, stream_opt: str, client: Any):
    """One model's predictions (``compare.Side``); none usable at all is a mistake."""
    from streaming.downstream import finished as finished_events
    from streaming.tools import compare

    if path is not None:
        side = compare.parse_side(finished_events.json_lines(path))
        named, code = f"{file_opt} {path}", USAGE
    else:
        side = compare.parse_side(finished_events.stream_items(_records(client, stream)))
        named, code = f"{stream_opt} {stream}", 1
    if not side.predictions:
        left = ", ".join(f"{v:,} {k}" for k, v in side.summary()["left_out"].items())
        raise CommandError(
            f"{named}: no prediction events in it ({side.counts['events']:,} read"
            + (f": {left}" if left else "")
            + "); give the JSON lines of streaming tail --jsonl, or the predictions stream",
            code,
        )
    return side


def _compare_actuals(args: Any, client: Any) -> tuple[dict[Any, Any], dict[str, Any]]:
    """ride_id -> ``Actual``, and where they came from (``static``: a file or month,
    which should cover every ride; a finished-rides source grows as rides end)."""
    from streaming.tools import compare

    if args.finished is not None or args.finished_stream is not None:
        return _finished_actuals(args, client)
    if args.actuals is not None:
        frame, source = actuals_frame(args.actuals), f"--actuals {args.actuals}"
    else:
        frame = load_tlc_trips(tlc_month_file(args.data_dir, args.month), "--month")
        source = f"the TLC month {args.month}"
    try:
        actuals = compare.actuals_from_frame(frame)
    except ValueError as exc:
        raise usage_error(f"{source}: {exc}") from None
    return actuals, {"source": source, "rides": len(actuals), "static": True}


def _finished_actuals(args: Any, client: Any) -> tuple[dict[Any, Any], dict[str, Any]]:
    from streaming.downstream import finished as finished_events

    if args.finished is not None:
        source, code = f"--finished {args.finished}", USAGE
        items = finished_events.json_lines(args.finished)
    else:
        source, code = f"--finished-stream {args.finished_stream}", 1
        items = finished_events.stream_items(_records(client, args.finished_stream))
    actuals, counts = finished_events.read_finished(items)
    if counts["events"] and not actuals:  # something, but nothing usable: the wrong input
        left = ", ".join(f"{v:,} {k}" for k, v in sorted(counts.items()) if k != "used")
        raise CommandError(
            f"{source}: no valid ride_finished event in it ({left}); see "
            "schemas/ride_finished.v1.json",
            code,
        )
    info = {"source": source, "rides": len(actuals), "static": False}
    return actuals, {**info, "events": dict(sorted(counts.items()))}


def _zone_groups(args: Any) -> dict[int, str]:
    """The zone groups of the TLC zone lookup in --data-dir, else in the project's data/."""
    from streaming.tools import compare

    for folder in (args.data_dir, DATA_DIR):
        if folder is not None and (folder / "taxi_zone_lookup.csv").is_file():
            return compare.load_zone_groups(folder / "taxi_zone_lookup.csv")
    return {}
