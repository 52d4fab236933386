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

#: rows per block in ``predict``
_BLOCK_ROWS = 512

#: Array names stored in the weights file (``.npz``, read with allow_pickle=False).
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
#: The four (rows, n_trees) unsigned mask tables, ANDed per row in ``predict``.
MASKS = ("masks_pu", "masks_do", "masks_distance", "masks_time")
#: The float64 arrays: every value must be finite.
FLOATS = ("distance_thresholds", "leaf_values", "baseline")


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
        """Refuse arrays that would mis-predict, crash ``predict`` or yield a
        non-finite minute count, at load time rather than on a live batch."""
        _check_kinds(self)
        n_trees, n_leaves = self.leaf_values.shape
        dtype = self.masks_pu.dtype
        if n_leaves > dtype.itemsize * 8:
            raise TableFormatError(f"{n_leaves} leaves do not fit {dtype} masks")
        for name in MASKS:
            m = getattr(self, name)
            if m.dtype != dtype or m.shape[1] != n_trees or m.shape[0] == 0:
                raise TableFormatError(
                    f"{name} must be (rows, {n_trees}) {dtype}, got {m.shape} {m.dtype}"
                )
        if self.masks_time.shape[0] != N_HOURS * N_WEEKDAYS:
            raise TableFormatError("masks_time must have 168 rows (hour x weekday)")
        if self.masks_distance.shape[0] != self.distance_thresholds.shape[0] + 1:
            raise TableFormatError("masks_distance must have one row more than thresholds")
        for name in FLOATS:
            _check_finite(name, getattr(self, name))
        if np.any(np.diff(self.distance_thresholds) <= 0):
            raise TableFormatError("distance_thresholds must be strictly increasing")
        for name, mask_name in (("zone_rows_pu", "masks_pu"), ("zone_rows_do", "masks_do")):
            _check_zone_rows(name, getattr(self, name), getattr(self, mask_name).shape[0])
        if self.baseline.shape != (1,):
            raise TableFormatError(f"baseline must hold one value, got shape {self.baseline.shape}")
        _check_prediction_bound(self.baseline, self.leaf_values)
        _check_every_input_reaches_a_leaf([getattr(self, name) for name in MASKS], n_leaves)

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


def _check_kinds(tables: TreeTables) -> None:
    """Every array is a numpy array of the dimension and dtype ``predict`` relies on.

    Native byte order only (the loader converts big-endian files): a ``>f8``
    array compares unequal to float64 and would slow every gather.
    """
    for name in ARRAYS:
        a = getattr(tables, name)
        if not isinstance(a, np.ndarray):
            raise TableFormatError(f"{name} must be a numpy array, got {type(a).__name__}")
        ndim = 2 if name in MASKS or name == "leaf_values" else 1
        if a.ndim != ndim:
            raise TableFormatError(f"{name} must be a {ndim}-d array, got {a.ndim}-d {a.shape}")
    for name in ("zone_rows_pu", "zone_rows_do"):
        a = getattr(tables, name)
        if a.dtype.kind not in "iu" or not a.dtype.isnative:
            raise TableFormatError(f"{name} must be a native integer array, got {a.dtype}")
    for name in MASKS:
        a = getattr(tables, name)
        if a.dtype not in (np.uint32, np.uint64) or not a.dtype.isnative:
            raise TableFormatError(f"masks must be uint32 or uint64, {name} is {a.dtype}")
    for name in FLOATS:
        a = getattr(tables, name)
        if a.dtype != np.float64 or not a.dtype.isnative:
            raise TableFormatError(f"{name} must be float64, got {a.dtype}")


def _check_finite(name: str, values: np.ndarray) -> None:
    """NaN or infinite weights would be published as ``NaN``/``Infinity``: not JSON."""
    bad = values.size - int(np.count_nonzero(np.isfinite(values)))
    if bad:
        raise TableFormatError(f"{name} has {bad} non-finite value{'s' * (bad != 1)}")


def _check_zone_rows(name: str, rows: np.ndarray, n_mask_rows: int) -> None:
    if rows.size == 0 or rows.min() < 0 or rows.max() >= n_mask_rows:
        raise TableFormatError(f"{name} must index rows of its mask table (0-{n_mask_rows - 1})")


def _check_prediction_bound(baseline: np.ndarray, leaf_values: np.ndarray) -> None:
    """Finite leaves can still sum to infinity (150 leaves of 1e307 do).

    Bound by magnitudes, |baseline| + the largest |leaf| of each tree: every
    partial sum, in whatever order numpy adds the trees, stays below it. Half
    the float64 range leaves room for the rounding of those additions.
    """
    with np.errstate(over="ignore"):
        per_tree = np.abs(leaf_values).max(axis=1) if leaf_values.size else np.zeros(1)
        bound = float(abs(baseline[0]) + per_tree.sum())
    if not bound <= np.finfo(np.float64).max / 2:
        raise TableFormatError(
            f"predictions could reach {bound:.3g} (baseline plus the largest leaf of "
            "every tree): too close to the float64 limit"
        )


def _check_every_input_reaches_a_leaf(masks: list[np.ndarray], n_leaves: int) -> None:
    """For each tree, some leaf below ``n_leaves`` must be kept by every row of every table.

    Then any combination of rows ANDs to a mask whose lowest set bit is such a
    leaf or a lower one, so ``predict`` always lands inside ``leaf_values`` (a
    zero AND would give leaf 32 or 64, a stray high bit a leaf past the row: both
    read another tree's leaf or crash). Exported tables always pass: a tree's
    rightmost leaf is in no left subtree, so no split ever removes it.
    Checking every combination would be rows^4 per tree; this is one AND-reduce.
    """
    common = np.bitwise_and.reduce(masks[0], axis=0)
    for m in masks[1:]:
        common &= np.bitwise_and.reduce(m, axis=0)
    low = common.dtype.type((1 << n_leaves) - 1)
    dead = np.flatnonzero((common & low) == 0)
    if dead.size:
        raise TableFormatError(
            f"masks of tree {int(dead[0])} (and {dead.size - 1} more) keep no leaf below "
            f"{n_leaves} for every input: some rows would reach no leaf"
        )


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
