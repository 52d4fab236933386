"""The model in models/ is the one its metadata describes, and it is good."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from streaming.training import tlc
from streaming.training.modelcard import CARD_FILE, PLOT_ERROR_BY_HOUR, PLOT_PRED_VS_ACTUAL
from streaming.training.train import HOLDOUT_MONTH, TARGET_RMSE_MIN, rmse
from tests.conftest import MODELS


def test_metadata_records_the_required_figures(shipped_model):
    meta = shipped_model.metadata
    assert meta["metrics"]["validation_rmse"] <= TARGET_RMSE_MIN
    assert meta["metrics"]["baseline_validation_rmse"] > meta["metrics"]["validation_rmse"]
    assert meta["exactness"]["max_abs_diff_minutes"] <= 1e-4
    assert meta["exactness"]["rows"] >= 10_000
    assert HOLDOUT_MONTH not in meta["data"]["refit_months"]
    assert meta["data"]["train_month"] != HOLDOUT_MONTH
    months = meta["data"]["months"]
    assert all(m["rows_clean"] > 0 for m in months.values())
    assert meta["data"]["refit_rows"] == sum(
        months[m]["rows_clean"] for m in meta["data"]["refit_months"]
    )
    assert {"numpy", "scikit-learn", "python"} <= set(meta["libraries"])
    weights = (MODELS / meta["weights"]["file"]).read_bytes()
    assert hashlib.sha256(weights).hexdigest() == meta["weights"]["sha256"]


def test_served_model_reproduces_its_recorded_holdout_rmse(shipped_model, holdout_trips):
    # Not a hard-coded prediction: the served model, on the real unseen month,
    # must score what training recorded (a broken export or loader would not).
    x = tlc.features_of(holdout_trips)
    got = rmse(holdout_trips["duration"].to_numpy(), shipped_model.predictor.predict(x))
    assert np.isclose(got, shipped_model.metadata["metrics"]["holdout_rmse"], atol=1e-9)
    assert got < shipped_model.metadata["metrics"]["baseline_holdout_rmse"]


def test_model_card_and_plots_exist():
    card = (MODELS / CARD_FILE).read_text()
    for plot in (PLOT_PRED_VS_ACTUAL, PLOT_ERROR_BY_HOUR):
        assert plot in card
        assert (MODELS / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow  # trains on the recorded months
def test_shipped_weights_are_what_make_train_produces(shipped_model):
    """Refit the chosen settings on the recorded months: the exported weights must be
    byte-identical to models/model.npz (training is deterministic, the npz has no
    timestamps). Catches a hand-edited or stale model."""
    from sklearn import __version__ as sklearn_version

    from streaming.model.contract import sha256_bytes
    from streaming.training.artifact_writer import npz_bytes
    from streaming.training.export import export_tree_tables
    from streaming.training.train import Candidate, fit_candidate
    from tests.conftest import DATA

    meta = shipped_model.metadata
    assert meta["libraries"]["scikit-learn"] == sklearn_version, "retrain with `make train`"
    frames = [tlc.load_trips(tlc.month_path(DATA, m))[0] for m in meta["data"]["refit_months"]]
    x = np.concatenate([tlc.features_of(f) for f in frames])
    y = np.concatenate([f["duration"].to_numpy() for f in frames])
    model = fit_candidate(x, y, Candidate(**meta["model"]["params"]), progress=False)
    tables = export_tree_tables(model.hgb, model.zones)
    assert sha256_bytes(npz_bytes(tables.arrays())) == meta["weights"]["sha256"]
    # the monitoring reference is what those weights predict on those rows
    from streaming.monitoring.drift import Histogram
    from streaming.monitoring.reference import reference_of

    assert reference_of(meta) == Histogram.of(tables.predict(x).tolist())
    from streaming.monitoring.reference import known_zones_of
    from streaming.training.train import known_zones

    zones = known_zones(tables)
    assert known_zones_of(meta) == (
        frozenset(zones["PULocationID"]),
        frozenset(zones["DOLocationID"]),
    )
    assert len(zones["PULocationID"]) == meta["model"]["zone_categories"]["PULocationID"]
