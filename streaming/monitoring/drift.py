"""Mergeable histograms of predicted minutes, and drift against a reference: PSI and KS.

Why mergeable: each shard closes its own tumbling window, and a window's state
must stay far below Lambda's 1 MB per shard, so a window keeps counts in fixed
bins (not the predictions) and the rows of one window, written per shard and
model version, are added up when read. Counts in the same bins add exactly; any
two partial histograms merge into the one a single reader would have built.

* PSI (population stability index): sum over bins of (p - q) * ln(p / q), with
  empty bins smoothed by ``EPSILON`` so a bin that is empty on one side gives a
  large but finite term. Common reading: < 0.1 stable, 0.1-0.2 moderate, > 0.2
  a shift worth acting on (the alarm's default threshold).
* KS distance: the largest gap between the two cumulative distributions at the
  bin edges - the Kolmogorov-Smirnov statistic of the binned data (a lower bound
  of the exact one, within a bin's width).

Pure functions on plain lists and dicts: no numpy needed to merge or compare, so
the monitoring function's state stays JSON and its zip stays small.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: bin edges in minutes: one bin a minute up to an hour (the model predicts rides of
#: 1-60 minutes), then one for everything above; below 0 goes to the first bin
EDGES: tuple[float, ...] = tuple(float(m) for m in range(0, 61))
#: smoothing of empty bins in PSI (a share, not a count)
EPSILON = 1e-4


@dataclass(frozen=True)
class Histogram:
    """Counts per bin: ``counts[i]`` for [EDGES[i], EDGES[i+1]), the last bin open above."""

    counts: tuple[int, ...]

    @classmethod
    def empty(cls) -> Histogram:
        return cls((0,) * len(EDGES))

    @classmethod
    def of(cls, minutes: Iterable[float]) -> Histogram:
        """The histogram of some predictions; values that are not finite are left out
        (the consumer never publishes one, and one must not move a bin)."""
        counts = [0] * len(EDGES)
        for value in minutes:
            if isinstance(value, int | float) and math.isfinite(value):
                counts[bin_of(value)] += 1
        return cls(tuple(counts))

    @classmethod
    def from_counts(cls, counts: Sequence[object]) -> Histogram:
        """From stored counts (a database row, a window's state); anything that is
        not a list of as many non-negative integers is refused with ``ValueError``."""
        if len(counts) != len(EDGES):
            raise ValueError(f"a histogram has {len(EDGES)} bins, got {len(counts)}")
        if not all(type(c) is int and c >= 0 for c in counts):
            raise ValueError("histogram counts must be non-negative integers")
        return cls(tuple(counts))  # type: ignore[arg-type]

    @property
    def total(self) -> int:
        return sum(self.counts)

    def merge(self, other: Histogram) -> Histogram:
        return Histogram(tuple(a + b for a, b in zip(self.counts, other.counts, strict=True)))

    def shares(self) -> list[float]:
        total = self.total
        return [c / total for c in self.counts] if total else [0.0] * len(self.counts)


def bin_of(minutes: float) -> int:
    """The bin of one prediction (below 0: the first; 60 and above: the last)."""
    if minutes < EDGES[1]:
        return 0
    if minutes >= EDGES[-1]:
        return len(EDGES) - 1
    return int(minutes - EDGES[0])


def merge_all(histograms: Iterable[Histogram]) -> Histogram:
    out = Histogram.empty()
    for histogram in histograms:
        out = out.merge(histogram)
    return out


def psi(reference: Histogram, current: Histogram) -> float | None:
    """Population stability index of ``current`` against ``reference``; ``None``
    when either is empty (no rides: nothing to say, which is not "no drift")."""
    if not reference.total or not current.total:
        return None
    total = 0.0
    for ref_share, cur_share in zip(reference.shares(), current.shares(), strict=True):
        q, p = max(ref_share, EPSILON), max(cur_share, EPSILON)
        total += (p - q) * math.log(p / q)
    return total


def ks_distance(reference: Histogram, current: Histogram) -> float | None:
    """The largest gap between the cumulative shares at the bin edges (0-1)."""
    if not reference.total or not current.total:
        return None
    gap, cum_q, cum_p = 0.0, 0.0, 0.0
    for q, p in zip(reference.shares(), current.shares(), strict=True):
        cum_q += q
        cum_p += p
        gap = max(gap, abs(cum_p - cum_q))
    return min(gap, 1.0)
