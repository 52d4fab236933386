"""``streaming evaluate``: join predictions with what really happened, by hour and zone.

Predictions come from a JSON-lines file (``streaming tail --jsonl``) or straight
from the predictions stream. The truth comes from ``--actuals`` (a CSV or
parquet file of the app's finished rides: ``ride_id`` and ``duration`` in
minutes, or ``pickup_datetime`` and ``dropoff_datetime``; ``PULocationID`` for
the zone breakdown) or from a TLC month, joined on ``ride_id`` = the trip's row
in the cleaned month - how ``streaming send`` and ``make run`` number the rides
they play. The report gives the RMSE
overall, by pickup hour and by pickup zone (the worst ones), next to the model
card's figure for an unseen month, and flags drift when the live RMSE is
clearly worse - before users notice.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

#: live RMSE above the model card's unseen-month RMSE by this factor = drift
DRIFT_FACTOR = 1.15


def predictions_from_jsonl(path: Path) -> Iterable[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                item = json.loads(line)
                yield item.get("event", item)  # tail --jsonl wraps events; plain ones too


def actuals_frame(path: Path) -> Any:
    """The app's finished rides, indexed by ride_id, with ``duration`` in minutes."""
    import pandas as pd

    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    if "duration" not in frame:
        pickup = pd.to_datetime(frame["pickup_datetime"])
        frame["duration"] = (
            pd.to_datetime(frame["dropoff_datetime"]) - pickup
        ).dt.total_seconds() / 60.0
        frame["pickup_hour"] = pickup.dt.hour
    return frame.set_index("ride_id")


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
    for event in predictions:
        pred = event.get("prediction") or {}
        ride_id = pred.get("ride_id")
        if isinstance(ride_id, int | str) and ride_id in trips.index:
            predicted.setdefault(ride_id, float(pred["ride_duration"]))  # first of duplicates
    if not predicted:
        raise ValueError("no prediction's ride_id matches a ride of the actuals")
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


def main(argv: list[str] | None = None) -> int:
    from streaming.tools.common import add_aws_options, kinesis_client
    from streaming.training import tlc

    p = argparse.ArgumentParser(
        prog="streaming evaluate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--predictions",
        type=Path,
        metavar="FILE.jsonl",
        help="predictions as JSON lines (e.g. from streaming tail --jsonl)",
    )
    src.add_argument("--stream", help="read the predictions stream from TRIM_HORIZON")
    truth = p.add_mutually_exclusive_group()
    truth.add_argument(
        "--actuals",
        type=Path,
        metavar="FILE",
        help="CSV/parquet of finished rides: ride_id + duration (or pickup_ and "
        "dropoff_datetime) [+ PULocationID]",
    )
    truth.add_argument(
        "--month",
        default="2023-02",
        help="TLC month whose row numbers are the ride ids (send, make run)",
    )
    p.add_argument("--data-dir", type=Path, default=Path("data"))
    p.add_argument(
        "--model",
        type=Path,
        default=Path("models"),
        help="model directory whose card RMSE is the reference",
    )
    p.add_argument("--min-rides", type=int, default=30, help="per zone, to be listed")
    p.add_argument("--json", action="store_true")
    add_aws_options(p)
    args = p.parse_args(argv)
    if args.actuals:
        trips = actuals_frame(args.actuals)
    else:
        trips, _ = tlc.load_trips(tlc.month_path(args.data_dir, args.month))
    if args.predictions:
        predictions: Iterable[dict[str, Any]] = predictions_from_jsonl(args.predictions)
    else:
        from streaming.esm.reader import StartingPosition
        from streaming.tools.replay import read_stream

        predictions = (
            json.loads(r["Data"])
            for r in read_stream(kinesis_client(args), args.stream, StartingPosition())
        )
    zones = None
    lookup = args.data_dir / "taxi_zone_lookup.csv"
    if lookup.is_file():
        import pandas as pd

        zones = pd.read_csv(lookup).set_index("LocationID")
    reference = None
    meta = args.model / "metadata.json"
    if meta.is_file():
        reference = json.loads(meta.read_text())["metrics"].get("holdout_rmse")
    report = evaluate(
        predictions, trips, zones=zones, min_rides=args.min_rides, reference_rmse=reference
    )
    if args.json:
        print(json.dumps(report))
    else:
        print_report(report)
    return 0
