"""The general path: any scikit-learn regressor, saved with skops, loaded with a trusted list.

Tree tables cover the shipped model; a user who trains another kind of
regressor (a linear model, a random forest, a pipeline) can still serve it
without pickle: skops stores the object graph as data and refuses to build
any type not explicitly trusted. The trusted list lives here, in code, never
in the artifact. Needs the ``[sklearn]`` extra and imports scikit-learn at init,
so the cold start is ~2 s slower than tree tables.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from streaming.model.contract import SKOPS_FORMAT, ModelLoadError

#: Types skops does not trust by default that a scikit-learn regressor needs.
#: Anything else found in a file is refused with its name in the message.
TRUSTED_TYPES: frozenset[str] = frozenset(
    {
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn._loss.loss.HalfSquaredError",
        "sklearn._loss.link.IdentityLink",
        "sklearn.utils.validation.check_array",
        "functools.partial",
        "numpy.dtype",
        "numpy.float64",
        "numpy.int64",
    }
)


class SkopsPredictor:
    """Adapts a scikit-learn regressor to the ``Predictor`` protocol."""

    def __init__(self, estimator: Any) -> None:
        self.estimator = estimator

    def predict(self, x: np.ndarray) -> np.ndarray:
        if len(x) == 0:
            return np.empty(0, dtype=np.float64)
        return np.asarray(self.estimator.predict(x), dtype=np.float64).reshape(-1)


def load_skops(data: bytes, location: str) -> SkopsPredictor:
    try:
        import skops.io as sio
    except ImportError:
        raise ModelLoadError(
            f"cannot load model from {location}: format {SKOPS_FORMAT} needs the "
            "[sklearn] extra (pip install 'ride-duration-streaming[sklearn]')"
        ) from None
    untrusted = sio.get_untrusted_types(data=data)
    refused = sorted(t for t in untrusted if t not in TRUSTED_TYPES)
    if refused:
        raise ModelLoadError(
            f"cannot load model from {location}: refusing types not on the trusted list: "
            + ", ".join(refused)
        )
    estimator = sio.loads(data, trusted=untrusted)
    if not hasattr(estimator, "predict"):
        raise ModelLoadError(f"cannot load model from {location}: object has no predict()")
    predictor = SkopsPredictor(estimator)
    _check_probe(predictor, location)
    return predictor


#: Ordinary rides (``FEATURES`` order) every served model must predict finitely.
PROBE_ROWS = np.array(
    [
        [130, 205, 3.66, 8, 2],
        [74, 75, 0.0, 0, 0],
        [1, 265, 50.0, 23, 6],
        [264, 264, 0.5, 17, 4],
    ],
    dtype=np.float64,
)


def _check_probe(predictor: SkopsPredictor, location: str) -> None:
    """Refuse at init a model whose weights are NaN/inf or whose output has the wrong shape.

    A generic estimator cannot be inspected like tree tables (its weights are
    wherever its class keeps them), so it is asked: a few ordinary rides must
    give one finite number each. This catches non-finite weights, not every
    overflow: a linear model with huge finite weights can still return inf for
    an extreme input, which the handler must not publish.
    """
    try:
        with np.errstate(all="ignore"):  # the result is checked below
            out = predictor.predict(PROBE_ROWS)
    except Exception as exc:  # any estimator bug or mismatch is a load failure
        raise ModelLoadError(
            f"cannot load model from {location}: predict() fails on ordinary rides: {exc}"
        ) from None
    if out.shape != (len(PROBE_ROWS),):
        raise ModelLoadError(
            f"cannot load model from {location}: predict() returned shape {out.shape} "
            f"for {len(PROBE_ROWS)} rows"
        )
    if not np.isfinite(out).all():
        raise ModelLoadError(
            f"cannot load model from {location}: predict() gives non-finite values "
            f"{out.tolist()} on ordinary rides (NaN or infinite weights?)"
        )
