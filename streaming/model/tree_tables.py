"""The served predictor: a gradient-boosted tree ensemble as lookup tables, run by numpy.

Why not walk the trees? A per-node walk in numpy is slow (~2 s for 10,000 rows
and 300 trees) and onnxruntime pays ~20 ns for each categorical-set test
(its "big set" path, 190 ms for the same batch). Instead this uses the
bit-vector idea of QuickScorer (Lucchese et al., SIGIR 2015): number each
tree's leaves left to right; a split whose test is false removes its left
subtree's leaves; the exit leaf is the lowest leaf still standing.

Every input here takes few distinct values *as far as the trees can tell*:
zones are categories, hour x weekday has 168 values, and the trip distance
only matters through which of the trees' thresholds it exceeds. So for each
feature and each of its values, the AND of the "false" masks of all splits on
that feature is precomputed per tree. Predicting a row is then four table
gathers, three ANDs, a lowest-set-bit and a leaf-value gather per tree, all
vectorised. Every comparison is done exactly as scikit-learn does it (float64
``x <= threshold``, category bitsets, unknown category = missing), so the
output equals scikit-learn's to float64 rounding of the final sum.

Input contract (columns of ``features.FEATURES``): zone ids and the distance
may be any float64; hour must be an integer in 0-23 and weekday in 0-6.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FORMAT = "tree-tables/1"
N_HOURS = 24
N_WEEKDAYS = 7

#: Array names stored in the weights file (``.npz``, read with allow_pickle=False).
#: rows per block in ``predict``
_BLOCK_ROWS = 512

ARRAYS = (
    "zone_rows_pu",
    "zone_rows_do",
    "masks_pu",
    "masks_do",
    "distance_thresholds",
    "masks_distance",
    "masks_time",
    "leaf_values",
    "baseline",
)


class TableFormatError(ValueError):
    """The arrays do not describe a consistent tree-tables model."""


@dataclass(frozen=True, eq=False)
class TreeTables:
    """Arrays of a tree-tables model; see the module docstring for the idea."""

    #: zone id -> row of ``masks_pu`` (the last row stands for unknown zones).
    zone_rows_pu: np.ndarray
    zone_rows_do: np.ndarray
    #: (rows, n_trees) unsigned masks: bit j set = leaf j still possible.
    masks_pu: np.ndarray
    masks_do: np.ndarray
    #: sorted distinct thresholds used on trip_distance; row b of
    #: ``masks_distance`` holds for distances with exactly b thresholds below them.
    distance_thresholds: np.ndarray
    masks_distance: np.ndarray
    #: row = hour * 7 + weekday
    masks_time: np.ndarray
    #: (n_trees, max_leaves) leaf values, leaves numbered left to right.
    leaf_values: np.ndarray
    baseline: np.ndarray  # shape (1,)

    def __post_init__(self) -> None:
        self.validate()
        n_trees, n_leaves = self.leaf_values.shape
        object.__setattr__(self, "_n_trees", n_trees)
        object.__setattr__(
            self, "_leaf_offsets", (np.arange(n_trees, dtype=np.int64) * n_leaves)[None, :]
        )
        object.__setattr__(self, "_leaf_flat", np.ascontiguousarray(self.leaf_values).ravel())

    @property
    def n_trees(self) -> int:
        return int(self.leaf_values.shape[0])

    def validate(self) -> None:
        """Refuse inconsistent arrays at load time rather than mis-predict later."""
        masks = (self.masks_pu, self.masks_do, self.masks_distance, self.masks_time)
        dtype = self.masks_pu.dtype
        if dtype not in (np.uint32, np.uint64):
            raise TableFormatError(f"masks must be uint32 or uint64, got {dtype}")
        if self.leaf_values.ndim != 2 or self.leaf_values.dtype != np.float64:
            raise TableFormatError("leaf_values must be a 2-d float64 array")
        n_trees, n_leaves = self.leaf_values.shape
        if n_leaves > dtype.itemsize * 8:
            raise TableFormatError(f"{n_leaves} leaves do not fit {dtype} masks")
        for name, m in zip(
            ("masks_pu", "masks_do", "masks_distance", "masks_time"), masks, strict=False
        ):
            if m.dtype != dtype or m.ndim != 2 or m.shape[1] != n_trees or m.shape[0] == 0:
                raise TableFormatError(f"{name} must be ({'rows'}, {n_trees}) {dtype}")
        if self.masks_time.shape[0] != N_HOURS * N_WEEKDAYS:
            raise TableFormatError("masks_time must have 168 rows (hour x weekday)")
        if self.masks_distance.shape[0] != self.distance_thresholds.shape[0] + 1:
            raise TableFormatError("masks_distance must have one row more than thresholds")
        if np.any(np.diff(self.distance_thresholds) <= 0):
            raise TableFormatError("distance_thresholds must be strictly increasing")
        for name, rows, m in (
            ("zone_rows_pu", self.zone_rows_pu, self.masks_pu),
            ("zone_rows_do", self.zone_rows_do, self.masks_do),
        ):
            if rows.ndim != 1 or rows.size == 0 or rows.min() < 0 or rows.max() >= m.shape[0]:
                raise TableFormatError(f"{name} must index rows of its mask table")
        if self.baseline.shape != (1,):
            raise TableFormatError("baseline must hold one value")
        # Every mask must keep at least one leaf, else no leaf would be reached.
        all_rows_ok = all(bool(np.all(m != 0)) for m in masks)
        if not all_rows_ok:
            raise TableFormatError("a mask removes every leaf of a tree")

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Minutes for each row of ``x`` (``(n, 5)`` float64, ``FEATURES`` order)."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != 5:
            raise ValueError(f"expected an (n, 5) matrix, got shape {x.shape}")
        if x.shape[0] == 0:
            return np.empty(0, dtype=np.float64)
        if np.isnan(x).any():
            raise ValueError("features must not be NaN")
        rows_pu = _zone_rows(x[:, 0], self.zone_rows_pu, len(self.masks_pu) - 1)
        rows_do = _zone_rows(x[:, 1], self.zone_rows_do, len(self.masks_do) - 1)
        rows_distance = np.searchsorted(self.distance_thresholds, x[:, 2], side="left")
        rows_time = _time_rows(x[:, 3], x[:, 4])
        out = np.empty(x.shape[0], dtype=np.float64)
        # Blocks of rows keep the (rows x trees) masks in cache: twice as fast as
        # one pass over 10,000 rows (bench/handler_batch.py).
        for start in range(0, x.shape[0], _BLOCK_ROWS):
            block = slice(start, start + _BLOCK_ROWS)
            acc = self.masks_pu[rows_pu[block]]
            acc &= self.masks_do[rows_do[block]]
            acc &= self.masks_distance[rows_distance[block]]
            acc &= self.masks_time[rows_time[block]]
            leaf = _lowest_set_bit(acc)
            leaf += self._leaf_offsets  # type: ignore[attr-defined]
            out[block] = self._leaf_flat[leaf].sum(axis=1)  # type: ignore[attr-defined]
        out += self.baseline[0]
        return out

    def unknown_zones(self, x: np.ndarray) -> np.ndarray:
        """True for rows whose pickup or drop-off zone the model has no category for."""
        x = np.asarray(x, dtype=np.float64)
        unknown_pu = len(self.masks_pu) - 1
        unknown_do = len(self.masks_do) - 1
        return (_zone_rows(x[:, 0], self.zone_rows_pu, unknown_pu) == unknown_pu) | (
            _zone_rows(x[:, 1], self.zone_rows_do, unknown_do) == unknown_do
        )

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in ARRAYS}


def _zone_rows(ids: np.ndarray, table: np.ndarray, unknown_row: int) -> np.ndarray:
    """Zone id -> mask row; ids outside the table (or not integers) -> the unknown row.

    The unknown row is the last row of the mask table, where every categorical
    split sends the row the way scikit-learn sends a missing or unseen category.
    """
    rows = np.full(ids.shape, unknown_row, dtype=np.intp)
    ok = (ids >= 0) & (ids < table.size) & (ids == np.floor(ids))
    rows[ok] = table[ids[ok].astype(np.intp)]
    return rows


def _time_rows(hours: np.ndarray, weekdays: np.ndarray) -> np.ndarray:
    h = hours.astype(np.intp)
    w = weekdays.astype(np.intp)
    if (
        np.any(h != hours)
        or np.any(w != weekdays)
        or h.min() < 0
        or h.max() >= N_HOURS
        or w.min() < 0
        or w.max() >= N_WEEKDAYS
    ):
        raise ValueError("pickup_hour must be an integer 0-23 and pickup_weekday 0-6")
    return h * N_WEEKDAYS + w


def _lowest_set_bit(masks: np.ndarray) -> np.ndarray:
    """Index of the lowest set bit of each (non-zero) mask: the exit leaf.

    ``m & -m`` isolates the bit; ``popcount(that - 1)`` counts the zeros below it.
    """
    low = masks & (np.zeros(1, dtype=masks.dtype) - masks)
    low -= 1
    return np.bitwise_count(low).astype(np.intp)
