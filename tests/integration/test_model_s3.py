"""MODEL_LOCATION=s3://...: fetched once into the temp dir, sha256-checked (moto S3)."""

from __future__ import annotations

import numpy as np
import pytest

from streaming.model import ModelLoadError, load_model
from streaming.model.contract import METADATA_FILE, NPZ_FILE
from tests.conftest import MODELS

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def model_in_s3(s3, monkeypatch, tmp_path):
    """The shipped model under s3://<bucket>/ride/v1/ -> (client, bucket); a fresh cache."""
    monkeypatch.setenv("MODEL_CACHE_DIR", str(tmp_path / "cache"))
    client, bucket = s3
    for name in (METADATA_FILE, NPZ_FILE):
        client.upload_file(str(MODELS / name), bucket, f"ride/v1/{name}")
    return client, bucket


def test_loads_from_s3_and_predicts_like_the_local_copy(model_in_s3, shipped_model):
    client, bucket = model_in_s3
    loaded = load_model(f"s3://{bucket}/ride/v1/")
    assert loaded.version == shipped_model.version
    x = np.array([[130, 205, 3.66, 8, 2], [1, 265, 0.0, 23, 6]], dtype=np.float64)
    np.testing.assert_array_equal(loaded.predictor.predict(x), shipped_model.predictor.predict(x))
    # Cached: with the weights gone from S3, a second init still loads (sha256 matches).
    client.delete_object(Bucket=bucket, Key=f"ride/v1/{NPZ_FILE}")
    assert load_model(f"s3://{bucket}/ride/v1").version == shipped_model.version


def test_tampered_object_in_s3_is_refused(model_in_s3):
    client, bucket = model_in_s3
    data = bytearray((MODELS / NPZ_FILE).read_bytes())
    data[200] ^= 0x01
    client.put_object(Bucket=bucket, Key=f"ride/v1/{NPZ_FILE}", Body=bytes(data))
    with pytest.raises(ModelLoadError, match=f"s3://{bucket}/ride/v1/.*sha256"):
        load_model(f"s3://{bucket}/ride/v1/")


def test_missing_prefix_names_the_location(model_in_s3):
    _, bucket = model_in_s3
    with pytest.raises(ModelLoadError, match=f"cannot load model from s3://{bucket}/nothing/"):
        load_model(f"s3://{bucket}/nothing/")
