"""What the slices of one batch gave, gathered in the batch's order.

The handler scores a batch a slice at a time (its PutRecords calls for a slice
are in flight while the next is scored); this is where the slices' rides,
prediction events, feature rows and rejections add up to what a whole-batch
pass would have made, in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from streaming.consumer.predict import predict_rides
from streaming.consumer.records import Rejection, Ride


@dataclass
class ScoredBatch:
    """What the slices of one batch gave, in the batch's order."""

    rides: list[Ride] = field(default_factory=list)
    predictions: list[dict[str, Any]] = field(default_factory=list)
    #: records that failed decoding or validation
    invalid: list[Rejection] = field(default_factory=list)
    #: valid rides the model could not answer
    unanswered: list[Rejection] = field(default_factory=list)
    _x: list[np.ndarray] = field(default_factory=list)
    _minutes: list[np.ndarray] = field(default_factory=list)

    def add(
        self,
        rides: list[Ride],
        events: list[dict[str, Any]],
        x: np.ndarray,
        minutes: np.ndarray,
        unanswered: list[Rejection],
    ) -> None:
        self.rides.extend(rides)
        self.predictions.extend(events)
        self._x.append(x)
        self._minutes.append(minutes)
        self.unanswered.extend(unanswered)

    def rejections(self) -> list[Rejection]:
        """Invalid records first, then unanswered rides (the order of one whole-batch pass)."""
        return self.invalid + self.unanswered

    def features_and_minutes(self, predictor: Any) -> tuple[np.ndarray, np.ndarray]:
        if len(self._x) == 1:
            return self._x[0], self._minutes[0]
        if not self._x:
            _, x, minutes, _ = predict_rides(predictor, [])
            return x, minutes
        return np.concatenate(self._x), np.concatenate(self._minutes)
