"""The model: directory format, loading (local or S3, sha256-checked) and the served predictor.

Runtime imports here are numpy-only; scikit-learn appears only in ``export``
(training) and in ``skops_format`` (the optional generic path).
"""

from streaming.model.artifact import LoadedModel, ModelLoadError, Predictor, load_model

__all__ = ["LoadedModel", "ModelLoadError", "Predictor", "load_model"]
