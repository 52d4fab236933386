"""``streaming evaluate --compare``: should the shadow (challenger) replace the champion?

Both models answer the same rides (``streaming.consumer.shadow``), so the
comparison is paired: on each ride both errors are known, and the question is
the mean of their difference, which varies far less than either error alone.
That is why a few thousand rides settle what two separate RMSE figures could
not. The steps, all pure (numpy; scipy only for the t-test's p-value when it is
installed):

1. ``parse_side``: each model's prediction events, bounded and de-duplicated -
   the streams are at-least-once (same ``source``) and records may be replayed
   (same ride and model version, new ``source``): the first one counts. What is
   not a usable prediction is counted by reason, never fatal.
2. ``pair``: a champion and a shadow prediction of the same input record
   (same ``source``), else of the same ride (``ride_id``); a ride only one
   model scored (the shadow samples rides, a publish failed) is counted, not used.
3. ``compare``: the pairs with an actual duration (a ride without one has not
   finished yet), RMSE and MAE of each, the paired differences with a bootstrap
   confidence interval and a paired t-test, overall, by pickup hour and by zone
   group, and the verdict of ``Rule``.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from streaming.downstream.predictions import (
    INT64,
    MAX_DURATION_MIN,
    Actual,
    Prediction,
    read_prediction,
    ride_key,
)

PROMOTE = "promote"
KEEP = "keep"
NOT_ENOUGH = "not enough rides yet"

#: a pickup-hour or zone-group row gets a confidence interval from this many rides
MIN_GROUP_RIDES_FOR_CI = 30
#: zone groups, in report order; "unknown": a zone the lookup does not place (or none)
UNKNOWN = "unknown"
ZONE_GROUPS = ("Manhattan", "outer boroughs", "airports", UNKNOWN)
#: bootstrap draws made at once (memory: about 24 bytes each)
BOOTSTRAP_CHUNK = 400_000


class NoPairs(ValueError):
    """No ride was scored by both models: nothing to compare."""


@dataclass(frozen=True)
class Rule:
    """When the shadow is promoted. The user sets it; the report says it."""

    min_rides: int = 1000
    #: the shadow's RMSE must be at least this fraction below the champion's
    min_improvement: float = 0.01
    resamples: int = 2000
    seed: int = 0

    def describe(self) -> str:
        return (
            f"{NOT_ENOUGH} until {self.min_rides:,} rides scored by both models have "
            f"finished; then {PROMOTE} if the shadow's RMSE is at least "
            f"{self.min_improvement * 100:.4g}% below the champion's and the 95% confidence "
            "interval of the RMSE difference (shadow - champion; paired bootstrap over "
            f"rides, {self.resamples:,} resamples, seed {self.seed}) lies entirely below 0, "
            f"else {KEEP}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "min_rides": self.min_rides,
            "min_improvement": self.min_improvement,
            "confidence": 0.95,
            "resamples": self.resamples,
            "seed": self.seed,
            "text": self.describe(),
        }


# -- 1. one model's predictions ------------------------------------------------------


@dataclass
class Side:
    """One model's usable predictions, in stream order, and what was left out, by reason."""

    predictions: list[Prediction] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    versions: Counter[str] = field(default_factory=Counter)

    def summary(self) -> dict[str, Any]:
        return {
            "events": self.counts["events"],
            "used": len(self.predictions),
            "left_out": {k: v for k, v in sorted(self.counts.items()) if k != "events"},
            "versions": dict(self.versions.most_common(10)),
        }


def parse_side(items: Iterable[Any]) -> Side:
    """One model's predictions; duplicates (the same ``source``, or the same ride and
    model version) after the first are dropped and counted."""
    side = Side()
    sources: set[tuple[str, int | None]] = set()
    rides: set[tuple[Any, str | None]] = set()
    for item in items:
        side.counts["events"] += 1
        found = read_prediction(item)
        if isinstance(found, str):
            side.counts[found] += 1
        elif found.source is not None and found.source in sources:
            side.counts["duplicate_source"] += 1
        elif (found.ride_id, found.version) in rides:
            side.counts["duplicate_ride"] += 1
        else:
            if found.source is not None:
                sources.add(found.source)
            rides.add((found.ride_id, found.version))
            side.predictions.append(found)
            side.versions[found.version or "(none)"] += 1
    return side


# -- 2. the rides both models scored -------------------------------------------------


@dataclass
class Pairs:
    """Ride id -> (champion minutes, shadow minutes), and the rides left unpaired."""

    minutes: dict[Any, tuple[float, float]]
    by_source: int
    only_champion: int
    only_shadow: int

    def summary(self) -> dict[str, Any]:
        return {
            "scored_by_both": len(self.minutes),
            "paired_by_source": self.by_source,
            "paired_by_ride_id": len(self.minutes) - self.by_source,
            "only_champion": self.only_champion,
            "only_shadow": self.only_shadow,
        }


def pair(champion: Side, shadow: Side) -> Pairs:
    """Each ride once: first the predictions of the same input record (same ``source``,
    same ride), then, for the rest, the first shadow prediction of the same ride."""
    by_source = {p.source: i for i, p in enumerate(shadow.predictions) if p.source is not None}
    minutes: dict[Any, tuple[float, float]] = {}
    used: set[int] = set()
    rest = []
    for c in champion.predictions:
        i = by_source.get(c.source) if c.source is not None else None
        if (
            i is not None
            and shadow.predictions[i].ride_id == c.ride_id
            and c.ride_id not in minutes
        ):
            minutes[c.ride_id] = (c.minutes, shadow.predictions[i].minutes)
            used.add(i)
        else:
            rest.append(c)
    paired_by_source = len(minutes)
    by_ride: dict[Any, Prediction] = {}
    for i, s in enumerate(shadow.predictions):
        if i not in used:
            by_ride.setdefault(s.ride_id, s)
    for c in rest:
        s = by_ride.get(c.ride_id)
        if s is not None and c.ride_id not in minutes:
            minutes[c.ride_id] = (c.minutes, s.minutes)
    champion_rides = {p.ride_id for p in champion.predictions}
    shadow_rides = {p.ride_id for p in shadow.predictions}
    return Pairs(
        minutes,
        paired_by_source,
        len(champion_rides - minutes.keys()),
        len(shadow_rides - minutes.keys()),
    )


# -- 3. the statistics ---------------------------------------------------------------


@dataclass(frozen=True)
class Rides:
    """The compared rides as arrays: actual, champion and shadow minutes, pickup hour
    (-1: unknown) and zone group ("unknown" when the actuals have no known zone)."""

    actual: np.ndarray
    champion: np.ndarray
    shadow: np.ndarray
    hour: np.ndarray
    group: np.ndarray

    def subset(self, mask: np.ndarray) -> Rides:
        arrays = (self.actual, self.champion, self.shadow, self.hour, self.group)
        return Rides(*(a[mask] for a in arrays))


def join_actuals(
    pairs: Pairs, actuals: Mapping[Any, Actual], zones: Mapping[int, str]
) -> tuple[Rides, int]:
    """The paired rides that have an actual duration, and how many have none yet."""
    rows = [(actuals.get(r), m) for r, m in pairs.minutes.items()]
    rows = [(a, m) for a, m in rows if a is not None]
    hour = [a.hour if a.hour is not None else -1 for a, _ in rows]
    group = [zones.get(a.zone, UNKNOWN) if a.zone is not None else UNKNOWN for a, _ in rows]
    rides = Rides(
        np.array([a.minutes for a, _ in rows], dtype=np.float64),
        np.array([m[0] for _, m in rows], dtype=np.float64),
        np.array([m[1] for _, m in rows], dtype=np.float64),
        np.array(hour, dtype=np.int64),
        np.array(group, dtype=object),
    )
    return rides, len(pairs.minutes) - len(rows)


def error_columns(rides: Rides) -> np.ndarray:
    """Per ride: champion's and shadow's squared error, shadow - champion absolute error,
    and 1 (to count rides): the sums the bootstrap resamples."""
    err_c, err_s = rides.champion - rides.actual, rides.shadow - rides.actual
    return np.column_stack([err_c**2, err_s**2, np.abs(err_s) - np.abs(err_c), np.ones(len(err_c))])


def _draw_counts(n: int, resamples: int, seed: int) -> Iterator[tuple[slice, np.ndarray]]:
    """Chunks of paired resamples of n rides: (which resamples, how often each ride was
    drawn in each, as a float matrix). Each chunk is drawn at once and counted with one
    ``bincount``, in bounded memory; the seed makes every run give the same intervals."""
    rng = np.random.default_rng(seed)
    step = max(1, BOOTSTRAP_CHUNK // n)
    for start in range(0, resamples, step):
        count = min(step, resamples - start)
        draws = rng.integers(0, n, size=(count, n)) + (np.arange(count)[:, None] * n)
        times = np.bincount(draws.ravel(), minlength=count * n).reshape(count, n)
        yield slice(start, start + count), times.astype(np.float64)


def _plan(labels: np.ndarray) -> tuple[np.ndarray, list[tuple[Any, int, int]]]:
    """The ride order that makes each label's rides contiguous, and each label's slice."""
    values, codes = np.unique(labels, return_inverse=True)
    order = np.argsort(codes, kind="stable")
    ends = np.cumsum(np.bincount(codes, minlength=len(values)))
    starts = ends - np.bincount(codes, minlength=len(values))
    return order, [
        (v, int(s), int(e)) for v, s, e in zip(values.tolist(), starts, ends, strict=True)
    ]


def bootstrap_sums(
    columns: np.ndarray, groupings: list[np.ndarray], resamples: int, seed: int
) -> tuple[np.ndarray, list[dict[Any, np.ndarray]]]:
    """Column sums of ``columns`` (n rides) in each of ``resamples`` paired resamples of
    the rides -> (resamples, columns), and the same within each group of each grouping
    (labels per ride) -> {label: (resamples, columns)}.

    Resampling rides keeps each ride's two errors together: that is what makes the
    interval paired. One set of resamples serves the whole report, a group's figures
    being those of its rides in each resample; vectorised (a matrix product per chunk
    and group), 100,000 rides x 2,000 resamples take seconds."""
    overall = np.empty((resamples, columns.shape[1]))
    plans = [_plan(labels) for labels in groupings]
    ordered = [columns[order] for order, _ in plans]
    groups: list[dict[Any, np.ndarray]] = [
        {label: np.empty_like(overall) for label, _, _ in parts} for _, parts in plans
    ]
    for rows, times in _draw_counts(len(columns), resamples, seed):
        overall[rows] = times @ columns
        for (order, parts), cols, out in zip(plans, ordered, groups, strict=True):
            t = times[:, order]
            for label, lo, hi in parts:
                out[label][rows] = t[:, lo:hi] @ cols[lo:hi]
    return overall, groups


#: degrees of freedom beyond which the t distribution is taken as the normal one (the
#: p-values agree to 3 decimals), which also spares importing scipy on a large sample
NORMAL_BEYOND_DF = 1000


def paired_t_test(diff: np.ndarray) -> dict[str, float | None]:
    """Paired t-test of mean(diff) = 0, two-sided. The t distribution is scipy's when it
    is installed (a training dependency), else, like beyond ``NORMAL_BEYOND_DF``
    rides, the normal one."""
    n = len(diff)
    if n < 2:
        return {"t": None, "p": None}
    mean, sd = float(diff.mean()), float(diff.std(ddof=1))
    if sd == 0.0:
        return {"t": None, "p": 1.0 if mean == 0.0 else 0.0}
    t = mean / (sd / math.sqrt(n))
    p = math.erfc(abs(t) / math.sqrt(2.0))
    if n - 1 <= NORMAL_BEYOND_DF:
        try:
            from scipy import stats

            p = float(2.0 * stats.t.sf(abs(t), n - 1))
        except ImportError:
            pass
    return {"t": t, "p": p}


def _intervals(sums: np.ndarray) -> dict[str, list[float]]:
    """95% percentile intervals of the differences, from resampled ``error_columns`` sums."""
    with np.errstate(divide="ignore", invalid="ignore"):  # a group drawn 0 times: NaN
        means = sums[:, :3] / sums[:, 3:4]
        rmse = np.sqrt(means[:, 1]) - np.sqrt(means[:, 0])
        found = {"rmse": rmse, "mse": means[:, 1] - means[:, 0], "mae": means[:, 2]}
    out = {}
    for key, samples in found.items():
        low, high = np.nanpercentile(samples, [2.5, 97.5])
        out[key] = [float(low), float(high)]
    return out


def paired_summary(rides: Rides, sums: np.ndarray | None) -> dict[str, Any]:
    """n, RMSE and MAE of each model on the same rides, and shadow - champion: of the
    RMSE, of the mean squared error (with the t-test) and of the mean absolute error,
    each with its 95% bootstrap interval when ``sums`` (``bootstrap_sums``) are given."""
    n = len(rides.actual)
    if n == 0:
        return _empty_summary()
    err_c, err_s = rides.champion - rides.actual, rides.shadow - rides.actual
    se_c, se_s = err_c**2, err_s**2
    abs_diff = np.abs(err_s) - np.abs(err_c)
    rmse_c, rmse_s = math.sqrt(se_c.mean()), math.sqrt(se_s.mean())
    ci = _intervals(sums) if sums is not None and n >= 2 else dict.fromkeys(("rmse", "mse", "mae"))
    return {
        "rides": n,
        "champion": _errors(err_c),
        "shadow": _errors(err_s),
        "rmse_difference": {"estimate": rmse_s - rmse_c, "ci95": ci["rmse"]},
        "relative_improvement": (rmse_c - rmse_s) / rmse_c if rmse_c > 0 else 0.0,
        "squared_error_difference": {
            "mean": float(se_s.mean() - se_c.mean()),
            "ci95": ci["mse"],
            **paired_t_test(se_s - se_c),
        },
        "absolute_error_difference": {"mean": float(abs_diff.mean()), "ci95": ci["mae"]},
    }


def _errors(err: np.ndarray) -> dict[str, float]:
    return {
        "rmse": math.sqrt(float(np.mean(err**2))),
        "mae": float(np.mean(np.abs(err))),
        "mean_error": float(np.mean(err)),
    }


def _empty_summary() -> dict[str, Any]:
    none = {"rmse": None, "mae": None, "mean_error": None}
    return {
        "rides": 0,
        "champion": none,
        "shadow": dict(none),
        "rmse_difference": {"estimate": None, "ci95": None},
        "relative_improvement": None,
        "squared_error_difference": {"mean": None, "ci95": None, "t": None, "p": None},
        "absolute_error_difference": {"mean": None, "ci95": None},
    }


def verdict(summary: dict[str, Any], rule: Rule) -> tuple[str, str]:
    """(promote / keep / not enough rides yet, why) for the overall summary."""
    n = summary["rides"]
    if n < rule.min_rides:
        return NOT_ENOUGH, f"{n:,} finished rides scored by both; the rule needs {rule.min_rides:,}"
    ci = summary["rmse_difference"]["ci95"]
    gain = summary["relative_improvement"]
    if ci is None:
        return KEEP, "too few rides for a confidence interval"
    low, high = ci
    said = f"RMSE difference {summary['rmse_difference']['estimate']:+.3f} min (95% CI "
    said += f"{low:+.3f} to {high:+.3f})"
    if high < 0 and gain >= rule.min_improvement:
        return PROMOTE, f"the shadow is better: {said}, {gain:.1%} lower RMSE"
    if low > 0:
        return KEEP, f"the shadow is worse: {said}"
    if high >= 0:
        return KEEP, f"no clear difference: {said} includes 0"
    return KEEP, (
        f"the shadow is better but by {gain:.1%}, less than the {rule.min_improvement:.1%} "
        f"the rule asks: {said}"
    )


# -- breakdowns ------------------------------------------------------------------------

OUTER_BOROUGHS = {"Bronx", "Brooklyn", "Queens", "Staten Island"}


def zone_groups(rows: Iterable[Mapping[str, Any]]) -> dict[int, str]:
    """LocationID -> Manhattan / outer boroughs / airports, from the TLC zone lookup's
    rows (airports by service_zone: JFK, LaGuardia and Newark). Other zones
    (Unknown, N/A) are left out: their rides are grouped as unknown."""
    groups: dict[int, str] = {}
    for row in rows:
        try:
            zone = int(row["LocationID"])
        except (KeyError, TypeError, ValueError):
            continue
        if row.get("service_zone") in ("Airports", "EWR"):
            groups[zone] = "airports"
        elif row.get("Borough") == "Manhattan":
            groups[zone] = "Manhattan"
        elif row.get("Borough") in OUTER_BOROUGHS:
            groups[zone] = "outer boroughs"
    return groups


def load_zone_groups(path: Path) -> dict[int, str]:
    """``zone_groups`` of the lookup CSV at ``path``; {} if it is missing or unreadable
    (the report then has no zone breakdown, rather than failing)."""
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            return zone_groups(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error):
        return {}


def _breakdown(
    rides: Rides, key: str, labels: np.ndarray, wanted: Iterable[Any], sums: dict[Any, Any]
) -> list[dict[str, Any]]:
    """One row per wanted label with rides; an interval from ``MIN_GROUP_RIDES_FOR_CI``
    rides on (fewer: a handful of rides would give an interval that means nothing)."""
    out = []
    for value in wanted:
        part = rides.subset(labels == value)
        if len(part.actual):
            enough = len(part.actual) >= MIN_GROUP_RIDES_FOR_CI
            out.append({key: value, **paired_summary(part, sums[value] if enough else None)})
    return out


def compare(
    champion: Side,
    shadow: Side,
    actuals: Mapping[Any, Actual],
    *,
    zones: Mapping[int, str] | None = None,
    rule: Rule | None = None,
) -> dict[str, Any]:
    """The whole comparison as one JSON-ready object (see the module docstring)."""
    rule = rule or Rule()
    pairs = pair(champion, shadow)
    if not pairs.minutes:
        raise NoPairs(
            f"no ride was scored by both models ({len(champion.predictions):,} champion and "
            f"{len(shadow.predictions):,} shadow predictions)"
        )
    rides, not_finished = join_actuals(pairs, actuals, zones or {})
    overall_sums, (hour_sums, zone_sums) = None, ({}, {})
    if len(rides.actual):
        overall_sums, (hour_sums, zone_sums) = bootstrap_sums(
            error_columns(rides), [rides.hour, rides.group], rule.resamples, rule.seed
        )
    overall = paired_summary(rides, overall_sums)
    decision, reason = verdict(overall, rule)
    hours = sorted(h for h in hour_sums if h >= 0)
    return {
        "mode": "compare",
        "units": "minutes",
        "verdict": decision,
        "reason": reason,
        "rule": rule.as_dict(),
        "champion": champion.summary(),
        "shadow": shadow.summary(),
        "rides": {**pairs.summary(), "not_finished": not_finished, "compared": overall["rides"]},
        "overall": overall,
        "by_hour": _breakdown(rides, "hour", rides.hour, hours, hour_sums),
        "by_zone_group": _breakdown(
            rides, "zone_group", rides.group, ZONE_GROUPS if zones else (), zone_sums
        ),
    }


def actuals_from_frame(frame: Any) -> dict[Any, Actual]:
    """Actuals from a frame indexed by ride_id with ``duration`` (minutes) and, when it
    has them, ``pickup_hour`` and ``PULocationID`` (a TLC month, an actuals file). A
    row with a bad ride id or a duration outside 0-1,440 minutes is left out; the
    first row of a ride counts."""
    n = len(frame)
    try:
        minutes = frame["duration"].to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        raise ValueError("its duration column is not numbers (minutes)") from None
    hours = _int_column(frame, "pickup_hour", n)
    zones = _int_column(frame, "PULocationID", n)
    out: dict[Any, Actual] = {}
    for ride_id, m, h, z in zip(frame.index.tolist(), minutes.tolist(), hours, zones, strict=True):
        key = ride_key(ride_id)
        if key is not None and 0.0 <= m <= MAX_DURATION_MIN and key not in out:  # NaN: no
            out[key] = Actual(m, h if h is not None and 0 <= h < 24 else None, z)
    return out


def _int_column(frame: Any, name: str, n: int) -> list[int | None]:
    """Column ``name`` as ints (None where missing or not a whole number); all None
    when the frame has no such column or it is not numbers (an actuals file's text)."""
    try:
        values = frame[name].to_numpy(dtype=np.float64, na_value=np.nan)
    except (KeyError, TypeError, ValueError):
        return [None] * n
    return [int(v) if v.is_integer() and abs(v) < INT64 else None for v in values.tolist()]
