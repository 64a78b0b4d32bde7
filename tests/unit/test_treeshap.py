"""Grouped TreeSHAP against XGBoost's own ``pred_contribs``: the same float32 bits for every
row, on random models and data (ties at split values, missing values, deep trees whose
decision patterns need several words), and the direct call whenever the grouping cannot be
trusted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from pipelines.models.treeshap import GroupedTreeShap


def _data(rng: np.random.Generator, rows: int, features: int) -> pd.DataFrame:
    """Small-integer columns (many rows sit exactly on a split value), a continuous one, and
    missing values in some columns."""
    data = {}
    for i in range(features):
        if i == 0:
            col = rng.gamma(2.0, 40.0, rows).round(2)
        else:
            col = rng.integers(0, rng.integers(2, 12), rows).astype("float64")
        if i % 3 == 1:
            col[rng.random(rows) < 0.2] = np.nan
        data[f"f{i}"] = col
    return pd.DataFrame(data)


def _direct(booster, X: pd.DataFrame) -> np.ndarray:
    return booster.predict(xgb.DMatrix(X), pred_contribs=True)


@pytest.mark.parametrize("seed", range(12))
def test_grouped_contributions_equal_pred_contribs_bit_for_bit(seed):
    rng = np.random.default_rng(seed)
    features = int(rng.integers(2, 9))
    X = _data(rng, int(rng.integers(300, 3000)), features)
    signal = X.fillna(3).to_numpy() @ rng.normal(0, 1, features)
    y = (signal + rng.normal(0, 1, len(X)) > np.median(signal)).astype(int)
    params = {
        "objective": str(rng.choice(["binary:logistic", "reg:squarederror"])),
        "max_depth": int(rng.integers(1, 9)),  # depth 7–8: more than 64 split nodes
        "eta": 0.3,
        "tree_method": str(rng.choice(["hist", "exact", "approx"])),
        "seed": seed,
    }
    booster = xgb.train(params, xgb.DMatrix(X, label=y), num_boost_round=int(rng.integers(1, 30)))
    # Scored on other rows than it was trained on, with missing values where training had none.
    scored = _data(rng, int(rng.integers(1, 2000)), features)
    scored.iloc[rng.random(len(scored)) < 0.05, 0] = np.nan
    shap = GroupedTreeShap(booster)
    got = shap(scored)
    assert shap.unsupported is None and shap.fallbacks == 0
    assert got.dtype == np.float32
    assert np.array_equal(got, _direct(booster, scored))


def test_no_rows_give_an_empty_frame_of_contributions():
    rng = np.random.default_rng(1)
    X = _data(rng, 200, 3)
    booster = xgb.train({"max_depth": 2}, xgb.DMatrix(X, label=rng.random(200)), 3)
    assert GroupedTreeShap(booster)(X.iloc[:0]).shape == (0, 4)


def test_a_wrong_grouping_is_caught_and_the_direct_result_returned():
    """If the grouped sum ever differed from XGBoost's (here: every row forced into one
    group), the check rows see it and the whole frame takes pred_contribs."""
    rng = np.random.default_rng(2)
    X = _data(rng, 1000, 4)
    booster = xgb.train({"max_depth": 3}, xgb.DMatrix(X, label=rng.random(1000)), 5)
    shap = GroupedTreeShap(booster)
    shap.splits = [
        type(s)(s.feature[:0], s.threshold[:0], s.default_left[:0]) for s in shap.splits
    ]
    got = shap(X)
    assert shap.fallbacks == 1
    assert np.array_equal(got, _direct(booster, X))


@pytest.mark.parametrize(
    ("params", "why"),
    [
        ({"booster": "dart", "rate_drop": 0.3, "max_depth": 3}, "dart"),
        ({"objective": "multi:softprob", "num_class": 3, "max_depth": 3}, "more than one output"),
        ({"num_parallel_tree": 3, "max_depth": 3}, "several trees per boosting round"),
    ],
)
def test_models_the_grouping_does_not_cover_take_pred_contribs(params, why):
    rng = np.random.default_rng(3)
    X = _data(rng, 600, 4)
    label = rng.integers(0, 3, 600) if "num_class" in params else rng.random(600)
    booster = xgb.train(params, xgb.DMatrix(X, label=label), 4)
    shap = GroupedTreeShap(booster)
    assert why in shap.unsupported
    assert np.array_equal(shap(X), _direct(booster, X))
