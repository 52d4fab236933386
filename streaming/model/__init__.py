"""The model at run time: loading (local or S3, sha256-checked, sizes bounded) and the
served predictor (numpy tree tables), with the contract every reader and writer shares.

Imports numpy only (and skops, lazily, for the optional generic format); the
writers and scikit-learn live in ``streaming.training``. Imports nothing else
from ``streaming``: the consumer depends on the model, never the reverse.
"""

from streaming.model.artifact import LoadedModel, Predictor, load_model
from streaming.model.contract import ModelLoadError

__all__ = ["LoadedModel", "ModelLoadError", "Predictor", "load_model"]
