"""Mergeable histograms and drift (PSI, KS): the monitoring consumer's arithmetic."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streaming.monitoring.drift import EDGES, Histogram, bin_of, ks_distance, merge_all, psi
from tests.support.budget import examples

minutes = st.lists(
    st.one_of(st.floats(-10, 200), st.just(math.nan), st.just(math.inf)), max_size=300
)


@examples(200)
@given(parts=st.lists(minutes, min_size=1, max_size=6))
def test_merging_partial_histograms_gives_the_histogram_of_all(parts):
    """Each shard closes its own window: the rows merged when read must equal one
    histogram of every prediction, in any grouping."""
    merged = merge_all(Histogram.of(p) for p in parts)
    assert merged == Histogram.of(v for p in parts for v in p)
    assert merged.total == sum(1 for p in parts for v in p if math.isfinite(v))


@examples(200)
@given(a=minutes, b=minutes)
def test_psi_and_ks_are_zero_for_the_same_distribution_and_bounded(a, b):
    ha, hb = Histogram.of(a), Histogram.of(b)
    if ha.total:
        assert psi(ha, ha) == 0.0 and ks_distance(ha, ha) == 0.0
    if ha.total and hb.total:
        assert psi(ha, hb) >= 0.0
        assert 0.0 <= ks_distance(ha, hb) <= 1.0
    else:
        assert psi(ha, hb) is None and ks_distance(ha, hb) is None


def test_bins_are_minutes_up_to_an_hour():
    assert len(EDGES) == 61
    assert [bin_of(v) for v in (-3.0, 0.0, 0.99, 1.0, 12.5, 59.99, 60.0, 500.0)] == [
        0, 0, 0, 1, 12, 59, 60, 60,
    ]  # fmt: skip


@pytest.mark.parametrize("counts", [[1] * 60, [-1] + [0] * 60, [1.5] + [0] * 60, [True] + [0] * 60])
def test_stored_counts_that_are_not_a_histogram_are_refused(counts):
    with pytest.raises(ValueError):
        Histogram.from_counts(counts)


@pytest.mark.slow
def test_an_engineered_shift_passes_the_threshold_and_a_stable_stream_does_not(
    shipped_model, holdout_trips
):
    """The month the model never saw, split row by row in two, is stable (PSI well
    under 0.2); the same rides with distances scaled by 1.5 drift past it."""
    from streaming.training import tlc

    x = tlc.features_of(holdout_trips)
    predict = shipped_model.predictor.predict
    first, second = Histogram.of(predict(x[::2])), Histogram.of(predict(x[1::2]))
    shifted = x.copy()
    shifted[:, 2] *= 1.5  # trip_distance
    drifted = Histogram.of(predict(shifted))
    assert psi(first, second) < 0.02 and ks_distance(first, second) < 0.02  # same month
    assert psi(first, drifted) > 0.2 and ks_distance(first, drifted) > 0.1
