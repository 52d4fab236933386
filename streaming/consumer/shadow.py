"""The shadow (challenger) model: scored on live rides, published apart, never served.

Like a SageMaker shadow test or a Seldon/KServe shadow, a second model answers
the same rides as the champion and its answers are kept - on their own stream,
in the champion's event shape with the shadow's name and version and the same
``source`` - so ``streaming evaluate --compare`` can judge both on the same
rides once they have finished. The champion never suffers for it:

* a shadow that cannot load (a bad location, a sha256 mismatch, a format the
  zip cannot run, a setting out of range) is disabled with its reason, and the
  champion runs alone;
* the shadow's predictions are computed after the champion's, from the same
  feature rows, and published after them, with the time that is left; what the
  shadow fails to publish is counted, never reported to Lambda;
* the champion's events are not touched: with or without a shadow they are the
  same bytes.

Which rides: ``SHADOW_SAMPLE_PERCENT`` of them, chosen by a stable hash of the
ride id (CRC-32, not Python's per-process ``hash``), so a ride is in or out the
same way in every invocation, on every retry, and in later analysis
(``in_sample``).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from streaming.consumer.config import ShadowSettings
from streaming.consumer.records import Ride
from streaming.model import LoadedModel, ModelLoadError, load_model

#: sample buckets: a ride is in the sample if its bucket is below percent x 100
BUCKETS = 10_000


def in_sample(ride_id: Any, percent: float) -> bool:
    """Is this ride scored by a shadow sampling ``percent`` of rides? Stable everywhere."""
    if percent >= 100.0:
        return True
    key = str(ride_id).encode("utf-8", "surrogatepass")
    return zlib.crc32(key) % BUCKETS < percent * (BUCKETS / 100)


@dataclass(frozen=True)
class Shadow:
    """A loaded shadow model and where its predictions go."""

    model: LoadedModel
    stream: str
    sample_percent: float
    version: str

    def score(self, rides: list[Ride], x: np.ndarray) -> tuple[list[dict[str, Any]], list[Ride]]:
        """The shadow's prediction events for the sampled rides (and those rides).

        ``x`` is the champion's feature matrix for ``rides``, row for row. A
        non-finite answer is left out (it is not JSON). Raises what the model
        raises: the caller counts it and goes on without the shadow."""
        chosen = [i for i, ride in enumerate(rides) if in_sample(ride.ride_id, self.sample_percent)]
        if not chosen:
            return [], []
        minutes = np.asarray(self.model.predictor.predict(x[chosen]), dtype=np.float64)
        if minutes.shape != (len(chosen),):
            raise ValueError(f"the shadow gave shape {minutes.shape} for {len(chosen)} rows")
        events, scored = [], []
        for i, value in zip(chosen, minutes.tolist(), strict=True):
            if not math.isfinite(value):
                continue
            ride = rides[i]
            events.append(
                {
                    "model": self.model.name,
                    "version": self.version,
                    "prediction": {"ride_duration": value, "ride_id": ride.ride_id},
                    "source": ride.ref.source(),
                }
            )
            scored.append(ride)
        return events, scored


@dataclass(frozen=True)
class ShadowDisabled:
    """A shadow was configured but cannot run; ``reason`` says why (logged at init)."""

    reason: str


def load_shadow(settings: ShadowSettings | None) -> Shadow | ShadowDisabled | None:
    """The shadow to run, the reason it cannot, or ``None`` (no shadow configured).

    Never raises: whatever goes wrong becomes ``ShadowDisabled``."""
    if settings is None:
        return None
    if settings.problem is not None:
        return ShadowDisabled(settings.problem)
    assert settings.stream is not None
    try:
        model = load_model(settings.model_location)
    except ModelLoadError as exc:
        return ShadowDisabled(f"the shadow model cannot load: {exc}")
    except Exception as exc:  # anything else at all: the champion goes on alone
        return ShadowDisabled(f"the shadow model cannot load: {type(exc).__name__}: {exc}")
    return Shadow(model, settings.stream, settings.sample_percent, model.version)
