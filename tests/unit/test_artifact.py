"""Loading a model directory: sha256 checked, no pickle, clear errors naming the location."""

from __future__ import annotations

import io
import json
import re
import shutil

import numpy as np
import pytest

from streaming.model import ModelLoadError, load_model
from streaming.model.contract import FEATURES, METADATA_FILE, NPZ_FILE
from tests.conftest import MODELS


@pytest.fixture
def model_dir(tmp_path):
    target = tmp_path / "model"
    shutil.copytree(MODELS, target)
    return target


def _edit_metadata(directory, **changes):
    path = directory / METADATA_FILE
    meta = json.loads(path.read_text())
    meta.update(changes)
    path.write_text(json.dumps(meta))


def test_shipped_model_loads_and_predicts(shipped_model):
    assert shipped_model.version == json.loads((MODELS / METADATA_FILE).read_text())["version"]
    assert shipped_model.name == "ride_duration_prediction_model"
    x = np.array([[130, 205, 3.66, 8, 2]], dtype=np.float64)
    minutes = shipped_model.predictor.predict(x)
    assert minutes.shape == (1,) and 1.0 < minutes[0] < 60.0


def test_tampered_weights_are_refused(model_dir):
    data = bytearray((model_dir / NPZ_FILE).read_bytes())
    data[-100] ^= 0xFF
    (model_dir / NPZ_FILE).write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match=rf"{re.escape(str(model_dir))}.*sha256"):
        load_model(model_dir)


def test_missing_location_names_it(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(
        ModelLoadError, match=re.escape(f"cannot load model from {missing}: no metadata")
    ):
        load_model(missing)


def test_missing_weights_file(model_dir):
    (model_dir / NPZ_FILE).unlink()
    with pytest.raises(ModelLoadError, match=r"model\.npz is missing"):
        load_model(model_dir)


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"features": list(FEATURES)[::-1]}, "expects features"),
        ({"format": "pickle/1"}, "unknown format"),
        ({"weights": {"file": "../model.npz", "sha256": "0" * 64}}, "plain file name"),
        ({"weights": "model.npz"}, "weights.file/sha256"),
        ({"version": 3}, "no 'version'"),
    ],
)
def test_bad_metadata(model_dir, changes, message):
    _edit_metadata(model_dir, **changes)
    with pytest.raises(ModelLoadError, match=message):
        load_model(model_dir)


def test_metadata_not_json(model_dir):
    (model_dir / METADATA_FILE).write_text("{not json")
    with pytest.raises(ModelLoadError, match="not JSON"):
        load_model(model_dir)


def test_npz_holding_pickled_objects_is_never_unpickled(model_dir):
    # An object array inside the npz would need pickle: np.load(allow_pickle=False)
    # refuses it even when the sha256 in the metadata matches.
    import hashlib

    with np.load(model_dir / NPZ_FILE) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["baseline"] = np.array([{"evil": "payload"}], dtype=object)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    (model_dir / NPZ_FILE).write_bytes(buffer.getvalue())
    meta = json.loads((model_dir / METADATA_FILE).read_text())
    meta["weights"]["sha256"] = hashlib.sha256(buffer.getvalue()).hexdigest()
    (model_dir / METADATA_FILE).write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match=r"bad model\.npz"):
        load_model(model_dir)


def test_skops_model_round_trip(tmp_path, holdout_trips):
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from streaming.training import tlc
    from streaming.training.skops_writer import save_skops

    x = tlc.features_of(holdout_trips.head(2000))
    y = holdout_trips["duration"].to_numpy()[:2000]
    estimator = make_pipeline(StandardScaler(), Ridge()).fit(x, y)
    meta = save_skops(tmp_path, estimator, {"name": "ride_duration_prediction_model"})
    loaded = load_model(tmp_path)
    assert loaded.version == meta["version"] and loaded.metadata["format"] == "skops/1"
    np.testing.assert_array_equal(loaded.predictor.predict(x), estimator.predict(x))


@pytest.mark.slow  # imports skops, which imports every scikit-learn estimator: ~5 s
def test_skops_refuses_untrusted_types(tmp_path):
    from sklearn.preprocessing import FunctionTransformer

    from streaming.training.skops_writer import save_skops

    # A transformer wrapping an arbitrary function: loading it could run code.
    save_skops(tmp_path, FunctionTransformer(shutil.rmtree), {})
    with pytest.raises(ModelLoadError, match=r"shutil\.rmtree"):
        load_model(tmp_path)


def _ridge(holdout_trips, y_columns: int = 1):
    from sklearn.linear_model import Ridge

    from streaming.training import tlc

    x = tlc.features_of(holdout_trips.head(500))
    y = holdout_trips["duration"].to_numpy()[:500]
    return Ridge().fit(x, y if y_columns == 1 else np.column_stack([y] * y_columns))


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_skops_model_with_non_finite_weights_is_refused(tmp_path, holdout_trips, value):
    """skops checks types, not values: a NaN coefficient would be served as NaN minutes."""
    from streaming.training.skops_writer import save_skops

    estimator = _ridge(holdout_trips)
    estimator.coef_[2] = value
    save_skops(tmp_path, estimator, {})
    with pytest.raises(ModelLoadError, match="non-finite values"):
        load_model(tmp_path)


def test_skops_model_with_several_outputs_is_refused(tmp_path, holdout_trips):
    """Two outputs per row would be flattened into twice as many "predictions"."""
    from streaming.training.skops_writer import save_skops

    save_skops(tmp_path, _ridge(holdout_trips, y_columns=2), {})
    with pytest.raises(ModelLoadError, match=r"returned shape \(8,\) for 4 rows"):
        load_model(tmp_path)
