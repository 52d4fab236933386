"""Fitted scikit-learn HistGradientBoostingRegressor -> ``TreeTables`` (training side).

Imports scikit-learn, so only training and tests import this module; the
Lambda function never does. The export reads the fitted trees (scikit-learn's
``TreePredictor.nodes`` and its category bitsets) and evaluates every split on
every value a feature can take as the trees see it, with the same comparisons
scikit-learn's ``_predict_one_from_raw_data`` makes:

* numeric split: ``x <= num_threshold`` goes left (float64);
* categorical split: category in the node's left bitset goes left; a category
  unknown at fit time, or a missing value, goes where ``missing_go_to_left`` says.

Zones are categorical with codes 0..K-1 (scikit-learn keeps categories below
``max_bins``, i.e. 255, so the 265 TLC zones cannot be used raw); the code
table is part of the exported model so the served model takes raw zone ids.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streaming.model.tree_tables import N_HOURS, N_WEEKDAYS, TreeTables


class ExportError(ValueError):
    """The estimator cannot be expressed as tree tables (use the skops format)."""


@dataclass(frozen=True)
class ZoneCodes:
    """Zone id -> category code (0..K-1) for each zone column; unlisted zones are unknown."""

    pu: np.ndarray  # zone ids, sorted; code = position
    do: np.ndarray

    @classmethod
    def from_counts(cls, pu_ids: np.ndarray, do_ids: np.ndarray, min_count: int) -> ZoneCodes:
        """Keep zones seen at least ``min_count`` times; rarer ones are treated as unknown."""

        def keep(ids: np.ndarray) -> np.ndarray:
            values, counts = np.unique(np.asarray(ids, dtype=np.int64), return_counts=True)
            kept = values[counts >= min_count]
            if len(kept) > 254:
                raise ExportError(f"{len(kept)} zone categories exceed scikit-learn's 254 limit")
            return kept

        return cls(pu=keep(pu_ids), do=keep(do_ids))

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Raw features -> what the estimator is fit on (zones as codes, NaN = unknown)."""
        out = np.array(x, dtype=np.float64, copy=True)
        out[:, 0] = _codes(x[:, 0], self.pu)
        out[:, 1] = _codes(x[:, 1], self.do)
        return out


def _codes(ids: np.ndarray, known: np.ndarray) -> np.ndarray:
    pos = np.searchsorted(known, ids)
    pos_clipped = np.minimum(pos, len(known) - 1)
    found = (pos < len(known)) & (known[pos_clipped] == ids)
    return np.where(found, pos_clipped, np.nan).astype(np.float64)


def _in_bitset(bitset: np.ndarray, values: np.ndarray) -> np.ndarray:
    """scikit-learn's ``in_bitset``: 8 x uint32 words, bit v%32 of word v//32."""
    words = bitset[values // 32].astype(np.uint64)
    return ((words >> (values % 32).astype(np.uint64)) & np.uint64(1)).astype(bool)


def export_tree_tables(hgb: object, zones: ZoneCodes) -> TreeTables:
    """Build the tables of a fitted ``HistGradientBoostingRegressor`` fit on ``zones.encode(X)``."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    if not isinstance(hgb, HistGradientBoostingRegressor):
        raise ExportError(f"tree tables need a HistGradientBoostingRegressor, got {type(hgb)}")
    if hgb.loss != "squared_error":
        raise ExportError(f"only loss='squared_error' (identity link) is exported, got {hgb.loss}")
    if hgb.n_features_in_ != 5:
        raise ExportError(f"expected 5 features, got {hgb.n_features_in_}")
    is_cat = np.asarray(hgb.is_categorical_ if hgb.is_categorical_ is not None else [False] * 5)
    if list(is_cat) != [True, True, False, False, False]:
        raise ExportError("zones (columns 0, 1) must be the only categorical features")

    trees = [per_iter[0] for per_iter in hgb._predictors]
    max_leaves = max(int(t.nodes["is_leaf"].sum()) for t in trees)
    if max_leaves > 64:
        raise ExportError(f"trees with {max_leaves} leaves exceed 64-bit masks")
    dtype = np.uint32 if max_leaves <= 32 else np.uint64
    known_bitsets, f_idx_map = hgb._bin_mapper.make_known_categories_bitsets()

    thresholds = np.unique(
        np.concatenate(
            [
                t.nodes["num_threshold"][
                    (~t.nodes["is_leaf"].astype(bool)) & (t.nodes["feature_idx"] == 2)
                ]
                for t in trees
            ]
            + [np.empty(0)]
        )
    )
    # One representative value per row of each table (see tree_tables.TreeTables).
    domains: list[np.ndarray | None] = [
        np.arange(len(zones.pu) + 1),  # codes, then "unknown"
        np.arange(len(zones.do) + 1),
        np.concatenate([thresholds, [np.inf]]),
        np.arange(N_HOURS, dtype=np.float64),
        np.arange(N_WEEKDAYS, dtype=np.float64),
    ]
    n_trees = len(trees)
    all_ones = np.iinfo(dtype).max
    tables = [np.full((len(d), n_trees), all_ones, dtype=dtype) for d in domains]
    leaf_values = np.zeros((n_trees, max_leaves), dtype=np.float64)

    for t_idx, tree in enumerate(trees):
        nodes = tree.nodes
        order, left_masks = _leaf_order(nodes)
        for j, node_idx in enumerate(order):
            leaf_values[t_idx, j] = nodes[node_idx]["value"]
        for node_idx, left_mask in left_masks.items():
            node = nodes[node_idx]
            f = int(node["feature_idx"])
            goes_left = _goes_left(node, f, domains[f], tree, known_bitsets, f_idx_map, zones)
            keep = dtype(~left_mask & int(all_ones))
            tables[f][~goes_left, t_idx] &= keep

    masks_time = (tables[3][:, None, :] & tables[4][None, :, :]).reshape(
        N_HOURS * N_WEEKDAYS, n_trees
    )
    return TreeTables(
        zone_rows_pu=_zone_rows(zones.pu),
        zone_rows_do=_zone_rows(zones.do),
        masks_pu=tables[0],
        masks_do=tables[1],
        distance_thresholds=thresholds.astype(np.float64),
        masks_distance=tables[2],
        masks_time=np.ascontiguousarray(masks_time),
        leaf_values=leaf_values,
        baseline=np.asarray(hgb._baseline_prediction, dtype=np.float64).reshape(1),
    )


def _zone_rows(known: np.ndarray) -> np.ndarray:
    """zone id -> row: the code for known zones, ``len(known)`` (unknown row) otherwise."""
    size = int(known.max()) + 1 if len(known) else 1
    rows = np.full(size, len(known), dtype=np.int32)
    rows[known] = np.arange(len(known), dtype=np.int32)
    return rows


def _leaf_order(nodes: np.ndarray) -> tuple[list[int], dict[int, int]]:
    """Leaves left to right, and for each split the bit mask of its left subtree's leaves."""
    order: list[int] = []
    left_masks: dict[int, int] = {}

    def visit(i: int) -> int:  # returns the mask of the leaves under node i
        if nodes[i]["is_leaf"]:
            order.append(i)
            return 1 << (len(order) - 1)
        left = visit(int(nodes[i]["left"]))
        right = visit(int(nodes[i]["right"]))
        left_masks[i] = left
        return left | right

    visit(0)
    return order, left_masks


def _goes_left(
    node: np.void,
    feature: int,
    domain: np.ndarray | None,
    tree: object,
    known_bitsets: np.ndarray,
    f_idx_map: np.ndarray,
    zones: ZoneCodes,
) -> np.ndarray:
    """For each representative value of the feature: does this split send it left?"""
    assert domain is not None
    missing_left = bool(node["missing_go_to_left"])
    if not node["is_categorical"]:
        return domain <= node["num_threshold"]
    n_known = len(zones.pu) if feature == 0 else len(zones.do)
    codes = domain[:-1].astype(np.int64)  # the last row is "unknown/missing"
    in_left = _in_bitset(tree.raw_left_cat_bitsets[node["bitset_idx"]], codes)
    seen = _in_bitset(known_bitsets[f_idx_map[feature]], codes)
    left = np.where(in_left, True, np.where(seen, False, missing_left))
    assert len(left) == n_known
    return np.concatenate([left, [missing_left]])
