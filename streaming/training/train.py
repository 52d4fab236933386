"""Train the ride-duration model on real TLC trips and ship it as tree tables.

Protocol (every figure lands in ``metadata.json``):

1. Select on a time split: fit on 2021-01, validate on 2021-02. The course
   baseline (DictVectorizer + LinearRegression on PU_DO + trip_distance) is
   fit and scored the same way, for reference.
2. Among candidates whose validation RMSE is within ``SELECTION_TOLERANCE_MIN``
   of the best, take the one with the fewest trees: prediction cost grows with
   the tree count, and a second of RMSE is not worth a slower handler.
3. Refit the chosen settings on 2021-01, 2021-02 and 2023-01. 2023-02 is never
   trained on: it is the unseen month of the demo and the drift check.
4. Export to tree tables and check the export against the fitted
   scikit-learn model on every row of the unseen month (> 10,000 rows): the
   largest difference is recorded and must stay below 1e-4 min.
"""

from __future__ import annotations

import contextlib
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np

from streaming.model.contract import MODEL_NAME
from streaming.model.tree_tables import TreeTables
from streaming.monitoring.reference import reference_section
from streaming.training import tlc
from streaming.training.artifact_writer import save_tree_tables
from streaming.training.export import ZoneCodes, export_tree_tables

TRAIN_MONTH = "2021-01"
VALID_MONTH = "2021-02"
REFIT_MONTHS = ("2021-01", "2021-02", "2023-01")
HOLDOUT_MONTH = "2023-02"  # never trained on
TARGET_RMSE_MIN = 5.7
SELECTION_TOLERANCE_MIN = 0.03
EXACTNESS_TOLERANCE_MIN = 1e-4
RANDOM_STATE = 0


@dataclass(frozen=True)
class Candidate:
    """One HistGradientBoostingRegressor setting (zones categorical)."""

    max_iter: int
    learning_rate: float
    max_leaf_nodes: int
    l2_regularization: float = 1.0
    min_zone_count: int = 5

    @property
    def name(self) -> str:
        return f"hgb-{self.max_iter}x{self.max_leaf_nodes}-lr{self.learning_rate:g}"


CANDIDATES: tuple[Candidate, ...] = (
    Candidate(max_iter=100, learning_rate=0.15, max_leaf_nodes=63),
    Candidate(max_iter=150, learning_rate=0.1, max_leaf_nodes=63),
    Candidate(max_iter=200, learning_rate=0.1, max_leaf_nodes=31),
    Candidate(max_iter=300, learning_rate=0.1, max_leaf_nodes=31),
    Candidate(max_iter=400, learning_rate=0.08, max_leaf_nodes=31),
)


class ZoneCodedModel:
    """The fitted scikit-learn model on raw features: zone coding + gradient boosting."""

    def __init__(self, zones: ZoneCodes, hgb: Any) -> None:
        self.zones = zones
        self.hgb = hgb

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self.hgb.predict(self.zones.encode(x))


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(y_true) - np.asarray(y_pred)) ** 2)))


def fit_candidate(
    x: np.ndarray, y: np.ndarray, cand: Candidate, *, label: str = "", progress: bool = True
) -> ZoneCodedModel:
    """Fit with a progress bar: boosting resumes (warm start) in steps of 25 trees,
    which gives the same trees as one fit (no early stopping, no subsampling)."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from tqdm import tqdm

    zones = ZoneCodes.from_counts(x[:, 0], x[:, 1], cand.min_zone_count)
    xe = zones.encode(x)
    hgb = HistGradientBoostingRegressor(
        loss="squared_error",
        learning_rate=cand.learning_rate,
        max_leaf_nodes=cand.max_leaf_nodes,
        l2_regularization=cand.l2_regularization,
        categorical_features=[0, 1],
        early_stopping=False,
        random_state=RANDOM_STATE,
        warm_start=True,
    )
    with tqdm(
        total=cand.max_iter,
        desc=label or cand.name,
        unit="tree",
        disable=not progress,
        leave=True,
        file=sys.stderr,
    ) as bar:
        for n in range(25, cand.max_iter + 25, 25):
            hgb.set_params(max_iter=min(n, cand.max_iter))
            hgb.fit(xe, y)
            bar.update(hgb.n_iter_ - bar.n)
    return ZoneCodedModel(zones, hgb)


def course_baseline(train: Any, evals: dict[str, Any]) -> dict[str, float]:
    """The course model: DictVectorizer + LinearRegression on PU_DO + trip_distance."""
    from sklearn.feature_extraction import DictVectorizer
    from sklearn.linear_model import LinearRegression

    def dicts(df: Any) -> list[dict]:
        pu_do = df["PULocationID"].astype(str) + "_" + df["DOLocationID"].astype(str)
        return [
            {"PU_DO": p, "trip_distance": d}
            for p, d in zip(pu_do, df["trip_distance"], strict=False)
        ]

    dv = DictVectorizer()
    lr = LinearRegression().fit(dv.fit_transform(dicts(train)), train["duration"])
    return {m: rmse(df["duration"], lr.predict(dv.transform(dicts(df)))) for m, df in evals.items()}


def check_exactness(tables: TreeTables, model: ZoneCodedModel, x: np.ndarray) -> float:
    """Largest |tree tables - scikit-learn| over the rows of ``x``, in minutes."""
    return float(np.max(np.abs(tables.predict(x) - model.predict(x))))


def select(results: list[dict[str, Any]]) -> dict[str, Any]:
    best = min(r["valid_rmse"] for r in results)
    near = [r for r in results if r["valid_rmse"] <= best + SELECTION_TOLERANCE_MIN]
    return min(near, key=lambda r: (r["candidate"]["max_iter"], r["valid_rmse"]))


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("numpy", "scikit-learn", "pandas", "pyarrow"):
        with contextlib.suppress(importlib_metadata.PackageNotFoundError):
            out[dist] = importlib_metadata.version(dist)
    return out


@dataclass(frozen=True)
class Selection:
    """Steps 1-2: every candidate's scores (recorded in the metadata) and the chosen one."""

    results: list[dict[str, Any]]
    chosen: dict[str, Any]

    @property
    def candidate(self) -> Candidate:
        return Candidate(**self.chosen["candidate"])


@dataclass(frozen=True)
class Export:
    """Steps 3-4: the refit model, its tree tables and how closely they agree."""

    model: ZoneCodedModel
    tables: TreeTables
    refit_rows: int
    check_rows: int
    max_abs_diff: float


def challenger(trees: int) -> tuple[Candidate, ...]:
    """One candidate of ``trees`` trees: a smaller model trained by the same protocol
    (a shadow to compare with the shipped one, e.g. ``streaming demo --shadow``)."""
    return (Candidate(max_iter=trees, learning_rate=0.1, max_leaf_nodes=31),)


def train(
    data_dir: Path,
    out_dir: Path,
    *,
    progress: bool = True,
    candidates: tuple[Candidate, ...] = CANDIDATES,
) -> dict[str, Any]:
    """Run the whole protocol; write the model directory; return its metadata.
    ``candidates``: the settings to choose from (the protocol's by default)."""
    started = time.perf_counter()
    say = (lambda msg: print(msg, file=sys.stderr, flush=True)) if progress else (lambda _m: None)
    trips, stats = load_months(data_dir, say)
    baseline = score_course_baseline(trips, say)
    x_va, y_va = _xy(trips[VALID_MONTH])
    x_ho, y_ho = _xy(trips[HOLDOUT_MONTH])
    selection = select_candidate(
        _xy(trips[TRAIN_MONTH]),
        (x_va, y_va),
        (x_ho, y_ho),
        progress=progress,
        say=say,
        candidates=candidates,
    )
    export = refit_and_export(
        trips, selection.candidate, np.concatenate([x_ho, x_va]), progress=progress, say=say
    )
    y_ho_pred = export.tables.predict(x_ho)
    holdout_rmse = rmse(y_ho, y_ho_pred)
    say(
        f"[refit] RMSE on unseen {HOLDOUT_MONTH}: {holdout_rmse:.3f} min "
        f"(baseline {baseline[HOLDOUT_MONTH]:.3f})"
    )
    metadata = build_metadata(
        stats, baseline, selection, export, holdout_rmse, float(np.mean(y_ho_pred - y_ho))
    )
    # the reference the monitoring function measures drift against: what the exported
    # model predicts on the rows it was fitted on
    x_fit = np.concatenate([tlc.features_of(trips[m]) for m in REFIT_MONTHS])
    metadata["monitoring"] = reference_section(
        export.tables.predict(x_fit).tolist(), known_zones(export.tables)
    )
    metadata["training_seconds"] = round(time.perf_counter() - started, 1)
    return write_model(out_dir, export.tables, metadata, trips[HOLDOUT_MONTH], y_ho_pred, say)


def known_zones(tables: TreeTables) -> dict[str, list[int]]:
    """The zone ids the exported model has a category for (the last row of each zone
    table is "unknown"): what the monitoring function counts unknown zones against."""
    out = {}
    for key, rows, masks in (
        ("PULocationID", tables.zone_rows_pu, tables.masks_pu),
        ("DOLocationID", tables.zone_rows_do, tables.masks_do),
    ):
        unknown = len(masks) - 1
        out[key] = [z for z, row in enumerate(rows.tolist()) if row != unknown]
    return out


def _xy(trips: Any) -> tuple[np.ndarray, np.ndarray]:
    """A month's model features and its real durations (the target), in minutes."""
    return tlc.features_of(trips), trips["duration"].to_numpy()


def load_months(
    data_dir: Path, say: Callable[[str], None]
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Every month the protocol uses, cleaned, and what the cleaning removed.

    All are read before any fit, so a missing file fails in seconds, not after
    minutes of training; the counts go into the metadata and the model card."""
    months = sorted({TRAIN_MONTH, VALID_MONTH, *REFIT_MONTHS, HOLDOUT_MONTH})
    trips: dict[str, Any] = {}
    stats: dict[str, dict[str, Any]] = {}
    for month in months:
        path = tlc.month_path(data_dir, month)
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing (copy it from ../shared/data)")
        trips[month], st = tlc.load_trips(path)
        stats[month] = asdict(st)
        say(
            f"[data] {month}: {st.rows_raw} rows -> {st.rows_clean} clean "
            f"({st.rows_outside_month} outside the month, "
            f"{st.rows_duration_out_of_range} outside 1-60 min)"
        )
    return trips, stats


def score_course_baseline(trips: dict[str, Any], say: Callable[[str], None]) -> dict[str, float]:
    """The course model's RMSE on the validation and unseen months, fit on the same
    training month: the reference our figures are reported against."""
    say("[baseline] course model: DictVectorizer + LinearRegression on PU_DO + trip_distance")
    baseline = course_baseline(
        trips[TRAIN_MONTH], {VALID_MONTH: trips[VALID_MONTH], HOLDOUT_MONTH: trips[HOLDOUT_MONTH]}
    )
    say(f"[baseline] RMSE {VALID_MONTH}: {baseline[VALID_MONTH]:.3f} min")
    return baseline


def select_candidate(
    train_xy: tuple[np.ndarray, np.ndarray],
    valid_xy: tuple[np.ndarray, np.ndarray],
    holdout_xy: tuple[np.ndarray, np.ndarray],
    *,
    progress: bool,
    say: Callable[[str], None],
    candidates: tuple[Candidate, ...] = CANDIDATES,
) -> Selection:
    """Steps 1-2: fit every candidate on the training month, choose with ``select``.

    Only the validation RMSE chooses; the unseen month's RMSE of each candidate
    is recorded, for the model card, but never looked at to choose."""
    results = [
        _score_candidate(cand, train_xy, valid_xy, holdout_xy, progress=progress, say=say)
        for cand in candidates
    ]
    selection = Selection(results, select(results))
    say(
        f"[select] chose {selection.candidate.name} (fewest trees within "
        f"{SELECTION_TOLERANCE_MIN} min of the best validation RMSE)"
    )
    return selection


def _score_candidate(
    cand: Candidate,
    train_xy: tuple[np.ndarray, np.ndarray],
    valid_xy: tuple[np.ndarray, np.ndarray],
    holdout_xy: tuple[np.ndarray, np.ndarray],
    *,
    progress: bool,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """One candidate fit and scored: a row of the metadata's ``selection.candidates``."""
    (x_tr, y_tr), (x_va, y_va), (x_ho, y_ho) = train_xy, valid_xy, holdout_xy
    t0 = time.perf_counter()
    model = fit_candidate(x_tr, y_tr, cand, label=f"[select] {cand.name}", progress=progress)
    result = {
        "candidate": asdict(cand),
        "name": cand.name,
        "valid_rmse": rmse(y_va, model.predict(x_va)),
        "holdout_rmse": rmse(y_ho, model.predict(x_ho)),
        "fit_seconds": round(time.perf_counter() - t0, 2),
    }
    say(f"[select] {cand.name}: RMSE {VALID_MONTH} {result['valid_rmse']:.3f} min")
    return result


def refit_and_export(
    trips: dict[str, Any],
    cand: Candidate,
    x_check: np.ndarray,
    *,
    progress: bool,
    say: Callable[[str], None],
) -> Export:
    """Steps 3-4: refit the chosen settings on ``REFIT_MONTHS``, export tree tables.

    The export is what the handler serves, so it is checked against the fitted
    scikit-learn model on ``x_check`` (real rows) and refused - training fails -
    if any prediction differs by more than ``EXACTNESS_TOLERANCE_MIN``."""
    refit = [trips[m] for m in REFIT_MONTHS]
    x_fit = np.concatenate([tlc.features_of(t) for t in refit])
    y_fit = np.concatenate([t["duration"].to_numpy() for t in refit])
    final = fit_candidate(
        x_fit, y_fit, cand, label=f"[refit] {'+'.join(REFIT_MONTHS)}", progress=progress
    )
    tables = export_tree_tables(final.hgb, final.zones)
    max_diff = check_exactness(tables, final, x_check)
    say(
        f"[export] tree tables vs scikit-learn on {len(x_check)} real rows: "
        f"max |diff| = {max_diff:.3g} min"
    )
    if not max_diff <= EXACTNESS_TOLERANCE_MIN:
        raise RuntimeError(f"export differs from scikit-learn by {max_diff} min")
    return Export(final, tables, len(y_fit), len(x_check), max_diff)


def build_metadata(
    stats: dict[str, dict[str, Any]],
    baseline: dict[str, float],
    selection: Selection,
    export: Export,
    holdout_rmse: float,
    holdout_mean_error: float,
) -> dict[str, Any]:
    """``metadata.json``, less what the writer adds (format, features, weights, version).

    Every figure of the protocol is here, so the model card, the tests and a
    reader can check the model against what training measured.
    ``training_seconds`` is left to the caller: it includes this step."""
    cand = selection.candidate
    return {
        "name": MODEL_NAME,
        "trained_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "target": "minutes from pickup to drop-off, rides of 1-60 min",
        "model": {
            "type": "HistGradientBoostingRegressor",
            "zones": "categorical",
            "params": asdict(cand),
            "n_trees": export.tables.n_trees,
            "max_leaves": int(export.tables.leaf_values.shape[1]),
            "zone_categories": {
                "PULocationID": len(export.model.zones.pu),
                "DOLocationID": len(export.model.zones.do),
            },
            "random_state": RANDOM_STATE,
        },
        "data": {
            "train_month": TRAIN_MONTH,
            "validation_month": VALID_MONTH,
            "refit_months": list(REFIT_MONTHS),
            "holdout_month": HOLDOUT_MONTH,
            "refit_rows": export.refit_rows,
            "months": stats,
        },
        "metrics": {
            "validation_rmse": selection.chosen["valid_rmse"],
            "validation_target_rmse": TARGET_RMSE_MIN,
            "holdout_rmse": holdout_rmse,
            "holdout_rmse_selection_model": selection.chosen["holdout_rmse"],
            "baseline_validation_rmse": baseline[VALID_MONTH],
            "baseline_holdout_rmse": baseline[HOLDOUT_MONTH],
            "holdout_mean_error": holdout_mean_error,
        },
        "selection": {
            "rule": f"fewest trees within {SELECTION_TOLERANCE_MIN} min of the best "
            f"validation RMSE",
            "chosen": cand.name,
            "candidates": selection.results,
        },
        "exactness": {
            "reference": "the fitted scikit-learn model (zone codes + gradient boosting)",
            "rows": export.check_rows,
            "months": [HOLDOUT_MONTH, VALID_MONTH],
            "max_abs_diff_minutes": export.max_abs_diff,
            "tolerance_minutes": EXACTNESS_TOLERANCE_MIN,
        },
        "libraries": library_versions(),
        "training_seconds": None,
    }


def write_model(
    out_dir: Path,
    tables: TreeTables,
    metadata: dict[str, Any],
    holdout: Any,
    y_ho_pred: np.ndarray,
    say: Callable[[str], None],
) -> dict[str, Any]:
    """Weights and metadata, then the model card; returns the metadata as written.

    The card is written from the written metadata, which alone has the version
    and sha256 the writer derives from the weights' bytes."""
    written = save_tree_tables(out_dir, tables, metadata)
    from streaming.training.modelcard import write_model_card

    write_model_card(out_dir, written, holdout, y_ho_pred)
    say(
        f"[done] {out_dir}/ version {written['version']} "
        f"({written['weights']['bytes'] / 1024:.0f} KiB, {metadata['training_seconds']} s)"
    )
    return written
