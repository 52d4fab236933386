"""The served predictor equals the fitted scikit-learn model on every real row."""

from __future__ import annotations

import numpy as np
import pytest

from streaming.model.tree_tables import MASKS, TableFormatError, TreeTables
from streaming.training import tlc
from streaming.training.export import ExportError, ZoneCodes, export_tree_tables
from tests.conftest import DATA

pytestmark = pytest.mark.slow  # every test trains a model (``fitted``: a whole month)

TOLERANCE_MIN = 1e-4


@pytest.fixture(scope="module")
def fitted(shipped_model):
    """A model fit like the shipped one (same settings), on 2021-01."""
    from streaming.training.train import Candidate, fit_candidate

    trips, _ = tlc.load_trips(tlc.month_path(DATA, "2021-01"))
    cand = Candidate(**shipped_model.metadata["model"]["params"])
    model = fit_candidate(
        tlc.features_of(trips), trips["duration"].to_numpy(), cand, progress=False
    )
    return model, export_tree_tables(model.hgb, model.zones)


def test_matches_scikit_learn_on_10000_real_rows(fitted, holdout_trips):
    model, tables = fitted
    x = tlc.features_of(holdout_trips.sample(n=10_000, random_state=1))
    diff = np.abs(tables.predict(x) - model.predict(x))
    assert diff.shape == (10_000,)
    assert diff.max() <= TOLERANCE_MIN, f"max diff {diff.max()}"


def test_rows_exactly_on_thresholds(fitted):
    # float32 tree runtimes flip rows that sit exactly on a split threshold;
    # check every threshold, and the next float on both sides of it.
    model, tables = fitted
    t = tables.distance_thresholds
    distances = np.concatenate([t, np.nextafter(t, np.inf), np.nextafter(t, -np.inf)])
    distances = distances[distances >= 0]
    rng = np.random.default_rng(3)
    n = len(distances)
    x = np.column_stack(
        [
            rng.choice(model.zones.pu, n),
            rng.choice(model.zones.do, n),
            distances,
            rng.integers(0, 24, n),
            rng.integers(0, 7, n),
        ]
    ).astype(np.float64)
    assert np.abs(tables.predict(x) - model.predict(x)).max() <= TOLERANCE_MIN


def test_unknown_and_odd_zone_ids_follow_scikit_learns_missing_branch(fitted):
    model, tables = fitted
    rng = np.random.default_rng(4)
    ids = np.array([0, -1, 264, 265, 266, 9999, 1e12, 3.5, 2**63, -(2**63)], dtype=np.float64)
    n = 2000
    x = np.column_stack(
        [
            rng.choice(ids, n),
            rng.choice(np.concatenate([ids, model.zones.do]), n),
            rng.exponential(3, n),
            rng.integers(0, 24, n),
            rng.integers(0, 7, n),
        ]
    )
    assert np.abs(tables.predict(x) - model.predict(x)).max() <= TOLERANCE_MIN


def test_every_hour_and_weekday(fitted):
    model, tables = fitted
    hours, weekdays = np.meshgrid(np.arange(24), np.arange(7))
    n = hours.size
    x = np.column_stack(
        [np.full(n, 74), np.full(n, 75), np.full(n, 2.5), hours.ravel(), weekdays.ravel()]
    ).astype(np.float64)
    assert np.abs(tables.predict(x) - model.predict(x)).max() <= TOLERANCE_MIN


def test_rejects_inputs_outside_the_contract(fitted):
    _, tables = fitted
    good = np.array([[74, 75, 2.5, 8, 2]], dtype=np.float64)
    assert tables.predict(good).shape == (1,)
    assert tables.predict(np.empty((0, 5))).shape == (0,)
    for bad in (
        [74, 75, np.nan, 8, 2],
        [74, 75, 2.5, 24, 2],
        [74, 75, 2.5, 8, 7],
        [74, 75, 2.5, 8.5, 2],
    ):
        with pytest.raises(ValueError):
            tables.predict(np.array([bad], dtype=np.float64))
    with pytest.raises(ValueError):
        tables.predict(np.zeros((3, 4)))


def test_inconsistent_arrays_are_refused(fitted):
    _, tables = fitted
    arrays = tables.arrays()
    broken = dict(arrays, masks_time=arrays["masks_time"][:100])
    with pytest.raises(TableFormatError):
        TreeTables(**broken)
    broken = dict(arrays, zone_rows_pu=arrays["zone_rows_pu"] + 10_000)
    with pytest.raises(TableFormatError):
        TreeTables(**broken)
    broken = dict(arrays, masks_pu=np.zeros_like(arrays["masks_pu"]))
    with pytest.raises(TableFormatError):
        TreeTables(**broken)


def test_export_refuses_what_it_cannot_express():
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import LinearRegression

    x = np.random.default_rng(0).random((50, 5))
    zones = ZoneCodes(pu=np.arange(3), do=np.arange(3))
    with pytest.raises(ExportError):
        export_tree_tables(LinearRegression().fit(x, x[:, 0]), zones)
    numeric = HistGradientBoostingRegressor(max_iter=2).fit(x, x[:, 0])
    with pytest.raises(ExportError, match="categorical"):
        export_tree_tables(numeric, zones)


def test_exported_masks_always_keep_each_trees_rightmost_leaf(fitted):
    """The load-time reachability check relies on this: no split removes a tree's
    rightmost leaf, so every combination of rows keeps some leaf of the tree."""
    _, tables = fitted
    arrays = tables.arrays()
    common = np.bitwise_and.reduce(
        [np.bitwise_and.reduce(arrays[name], axis=0) for name in MASKS], axis=0
    )
    low = common.dtype.type((1 << arrays["leaf_values"].shape[1]) - 1)
    assert np.all(common & low)


def test_values_that_would_mis_predict_are_refused(fitted):
    _, tables = fitted
    arrays = tables.arrays()
    nan_leaf = arrays["leaf_values"].copy()
    nan_leaf[3, 0] = np.nan
    huge_leaves = np.full_like(arrays["leaf_values"], 1e307)
    for name, value, message in (
        ("leaf_values", nan_leaf, "leaf_values has 1 non-finite value"),
        ("leaf_values", huge_leaves, "predictions could reach inf"),
        ("baseline", np.array([np.inf]), "baseline has 1 non-finite value"),
        ("zone_rows_pu", arrays["zone_rows_pu"].astype(float), "native integer"),
        ("leaf_values", arrays["leaf_values"][:, :5].copy(), "keep no leaf below 5"),
        ("baseline", arrays["baseline"].astype(">f8"), "baseline must be float64"),
        ("baseline", [0.0], "baseline must be a numpy array"),
    ):
        with pytest.raises(TableFormatError, match=message):
            TreeTables(**dict(arrays, **{name: value}))
