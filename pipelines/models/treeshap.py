"""XGBoost's exact TreeSHAP contributions (``pred_contribs``), each tree evaluated once per
distinct decision path instead of once per row.

Why: TreeSHAP costs trees × leaves × depth² per row; for the churn champion at 1M customers
(100 trees of depth 5, ~775k buyers) that was ~100 s of the nightly's two cores.

Rule this relies on: a row reaches TreeSHAP's recursion through its decisions only — at every
split node of a tree, left or right (``value < split``; a missing value takes the node's
default side). Rows that decide alike at every node of a tree get the same contributions from
that tree. So, per tree, rows are grouped by that pattern (one bit per split node), XGBoost
computes the one-tree model's contributions for one row of each group, and each row adds its
group's contributions tree after tree in float32 — the order and precision of XGBoost's own
loop (a per-tree buffer added to the row's totals). The result equals ``pred_contribs`` bit for
bit; the bias (the same for every row: base score plus each tree's expected value) is taken
from XGBoost directly.

Every call checks a few rows against ``pred_contribs`` itself and uses that for the whole
frame if they differ (a future XGBoost summing in another order would still give the same
contributions, only slower; ``fallbacks`` counts such calls). Models the grouping does not
cover — categorical splits, dart's tree weights, several trees per round, several outputs —
always take ``pred_contribs``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

CHECK_ROWS = 8  # rows per call compared with pred_contribs, spread over the frame

log = logging.getLogger("profilake.models")


@dataclass(frozen=True)
class _Splits:
    """The split nodes of one tree: feature index, threshold, side taken when missing."""

    feature: np.ndarray  # int
    threshold: np.ndarray  # float32, compared as XGBoost does (float32 values)
    default_left: np.ndarray  # bool


def _unsupported(model: dict[str, Any]) -> str | None:
    """Why the per-path grouping cannot reproduce this model's pred_contribs, or None."""
    learner = model["learner"]
    booster = learner["gradient_booster"]
    if booster.get("name") != "gbtree":
        return f"booster {booster.get('name')} (tree weights)"
    params = learner["learner_model_param"]
    if int(params.get("num_class", "0")) > 1 or int(params.get("num_target", "1")) > 1:
        return "more than one output"
    tree_model = booster["model"]
    if int(tree_model["gbtree_model_param"].get("num_parallel_tree", "1")) != 1:
        return "several trees per boosting round"
    for tree in tree_model["trees"]:
        if any(int(t) != 0 for t in tree.get("split_type", [])):
            return "categorical splits"
    return None


def _splits(tree: dict[str, Any]) -> _Splits:
    inner = np.flatnonzero(np.asarray(tree["left_children"]) != -1)
    return _Splits(
        feature=np.asarray(tree["split_indices"], dtype=np.int64)[inner],
        threshold=np.asarray(tree["split_conditions"], dtype=np.float32)[inner],
        default_left=np.asarray(tree["default_left"], dtype=bool)[inner],
    )


def _patterns(splits: _Splits, values: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """Each row's decisions at the tree's split nodes, packed into uint64 words (n × words)."""
    n, nodes = values.shape[0], len(splits.feature)
    words = np.zeros((n, max(1, -(-nodes // 64))), dtype=np.uint64)
    for node in range(nodes):
        f = splits.feature[node]
        left = values[:, f] < splits.threshold[node]
        if missing[:, f].any():
            left = np.where(missing[:, f], splits.default_left[node], left)
        words[:, node // 64] |= left.astype(np.uint64) << np.uint64(node % 64)
    return words


def _groups(words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index of one row per distinct pattern, each row's pattern number). Any row of a
    group stands for all of it: they decide alike at every node."""
    if words.shape[1] == 1:
        codes, distinct = pd.factorize(words[:, 0])  # hashing: no sort of the rows
        one = np.empty(len(distinct), dtype=np.int64)
        one[codes] = np.arange(len(codes))
        return one, codes
    _, first, inverse = np.unique(words, axis=0, return_index=True, return_inverse=True)
    return first, inverse.reshape(-1)


class GroupedTreeShap:
    """``pred_contribs`` of one booster, computed per distinct decision path (module rule)."""

    def __init__(self, booster: Any):
        self.booster = booster
        self.names = list(booster.feature_names)
        model = json.loads(bytes(booster.save_raw("json")))
        self.unsupported = _unsupported(model)
        self.fallbacks = 0
        if self.unsupported is None:
            trees = model["learner"]["gradient_booster"]["model"]["trees"]
            self.splits = [_splits(t) for t in trees]
            self.trees = []
            for i in range(len(trees)):
                one = booster[i : i + 1]
                one.set_param({"nthread": 1})
                self.trees.append(one)

    def _direct(self, values: np.ndarray) -> np.ndarray:
        import xgboost as xgb

        matrix = xgb.DMatrix(values, feature_names=self.names, missing=np.nan)
        return np.asarray(self.booster.predict(matrix, pred_contribs=True), dtype=np.float32)

    def __call__(self, X: pd.DataFrame) -> np.ndarray:
        """Per row of ``X`` (the booster's feature columns), each feature's contribution to
        the margin, then the bias: float32, equal to ``pred_contribs``."""
        import xgboost as xgb

        values = X[self.names].to_numpy(dtype=np.float32)
        n = len(values)
        if self.unsupported is not None:
            return self._direct(values)
        if n == 0:
            return np.zeros((0, len(self.names) + 1), dtype=np.float32)
        columns = np.asfortranarray(values)  # the pattern pass reads column by column
        missing = np.isnan(columns)
        totals = np.zeros((n, len(self.names) + 1), dtype=np.float32)
        gathered = np.empty_like(totals)
        for splits, tree in zip(self.splits, self.trees, strict=True):
            first, inverse = _groups(_patterns(splits, columns, missing))
            matrix = xgb.DMatrix(values[first], feature_names=self.names, missing=np.nan)
            per_group = np.asarray(tree.predict(matrix, pred_contribs=True), dtype=np.float32)
            totals += np.take(per_group, inverse, axis=0, out=gathered)
        check = np.unique(np.linspace(0, n - 1, min(n, CHECK_ROWS)).round().astype(np.int64))
        expected = self._direct(values[check])
        totals[:, -1] = expected[0, -1]
        if not np.array_equal(totals[check], expected):
            self.fallbacks += 1
            log.warning("grouped TreeSHAP differs from pred_contribs on its check rows: "
                        "computing the %d rows with pred_contribs (slower, same result)", n)
            return self._direct(values)
        return totals
