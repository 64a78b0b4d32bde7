"""Helpers for the nightly tests: a conf whose MLflow store, lock, reports and models live in
the per-test lakehouse, small model settings, and gated input tables."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

from pipelines.catalog import Catalog
from pipelines.config import Conf
from pipelines.gate import gated_write
from tests.nightly_synth import synthetic_events, synthetic_links

SMALL_MODELS: dict[str, Any] = {
    "clustering": {"k_min": 3, "k_max": 4, "sample_rows": 5000},
    "churn": {
        "horizon_days": 30,
        "cv_folds": 3,
        "param_grid": {"max_depth": [2, 3], "learning_rate": [0.2], "n_estimators": [40]},
        "promotion": {
            "fairness": {"min_group_size": 40, "max_score_gap": 0.3, "max_rate_gap": 0.3}
        },
    },
}


def _deep_update(target: dict, updates: dict) -> None:
    for k, v in updates.items():
        if isinstance(v, dict) and isinstance(target.get(k), dict):
            _deep_update(target[k], v)
        else:
            target[k] = copy.deepcopy(v)


def nightly_conf(conf: Conf, models: dict[str, Any] | None = None) -> Conf:
    """``conf`` (the per-test lakehouse) with every root-derived nightly key re-pointed at its
    ``paths.root`` — they were interpolated from the base root when the conf loaded."""
    data = conf.to_dict()
    root = data["paths"]["root"]
    data["mlflow"].update(
        tracking_uri=f"sqlite:///{root}/mlflow/mlflow.db", artifact_root=f"{root}/mlflow/artifacts"
    )
    data["nightly"].update(lock_file=f"{root}/locks/nightly.lock", reports_dir=f"{root}/reports")
    data["models"]["clustering"]["model_dir"] = f"{root}/models/clustering"
    _deep_update(data["models"], SMALL_MODELS if models is None else models)
    return Conf(data, conf.env, conf.files, conf.project_dir)


def write_inputs(
    spark, conf: Conf, customers: int, end: date, days: int = 240, seed: int = 7
) -> None:
    """Gated ``events`` (up to ``end`` + 10 days: the nightly must ignore the future) and
    ``identity_links`` tables for ``customers`` synthetic customers."""
    catalog = Catalog(conf)
    from datetime import timedelta

    events = synthetic_events(
        spark, customers, end + timedelta(days=10), days=days, events_per_customer=15, seed=seed
    )
    gated_write(catalog, events, "events")
    gated_write(
        catalog, synthetic_links(spark, customers, end - timedelta(days=days)), "identity_links"
    )
