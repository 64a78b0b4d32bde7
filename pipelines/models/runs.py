"""What the nightly logs to MLflow. Each helper logs into the active run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

from pipelines.models.churn import ChurnModel
from pipelines.models.clustering import ClusteringResult, centroid_figure
from pipelines.models.promotion import Decision, FairnessReport

PIP_REQUIREMENTS = ["xgboost"]  # explicit: inferring them costs seconds per model


@contextmanager
def stage_run(stage: str, as_of: date, **tags: str) -> Iterator[Any]:
    """An MLflow run for one nightly stage, nested in the nightly's run when there is one."""
    import mlflow

    nested = mlflow.active_run() is not None
    with mlflow.start_run(
        run_name=f"{stage} {as_of.isoformat()}",
        nested=nested,
        tags={"as_of": as_of.isoformat(), "stage": stage, **tags},
    ) as run:
        yield run


def log_clustering(result: ClusteringResult, sizes: dict[str, int], params: Any) -> None:
    import mlflow

    mlflow.log_params(
        {
            "algorithm": result.algorithm,
            "k": result.k,
            "k_range": f"{params.k_min}-{params.k_max}",
            "algorithms": ",".join(params.algorithms),
            "columns": ",".join(result.columns),
            "log1p": ",".join(params.log1p),
            "sample_rows": result.sample_rows,
            "seed": params.seed,
        }
    )
    mlflow.log_metric("silhouette", result.silhouette)
    for key, value in result.silhouettes.items():
        mlflow.log_metric(f"silhouette_{key}", value)
    for name, n in sizes.items():
        mlflow.log_metric(f"cluster_size.{_metric_key(name)}", n)
    mlflow.log_dict({"sizes": sizes, **json.loads(result.names_json())}, "clusters.json")
    fig = centroid_figure(result, sizes)
    mlflow.log_figure(fig, "plots/centroids.png")
    _close(fig)


def log_churn(
    model: ChurnModel,
    metrics: dict[str, float],
    baseline: dict[str, float],
    fairness: FairnessReport,
    figures: dict[str, Any],
    windows: Any,
    params: Any,
) -> None:
    import mlflow

    mlflow.log_params(
        {
            "engine": model.engine,
            "horizon_days": params.horizon_days,
            "train_as_of": windows.train_as_of.isoformat(),
            "holdout_as_of": windows.holdout_as_of.isoformat(),
            "population": params.population,
            "cv_folds": params.cv_folds,
            "param_grid": json.dumps(params.param_grid),
            "train_rows": model.train_rows,
            **{f"best_{k}": v for k, v in model.best_params.items()},
        }
    )
    mlflow.log_metric("cv_auc", model.cv_auc)
    mlflow.log_metric("train_positive_rate", model.positive_rate)
    for k, v in metrics.items():
        mlflow.log_metric(f"holdout_{k}", v)
    for k, v in baseline.items():
        mlflow.log_metric(f"baseline_{k}", v)
    mlflow.log_metric("auc_lift_over_baseline", metrics["auc"] - baseline["auc"])
    if fairness.score_gap is not None:
        mlflow.log_metric("fairness_score_gap", fairness.score_gap)
        mlflow.log_metric("fairness_rate_gap", fairness.rate_gap)
    mlflow.log_dict(
        {"passed": fairness.passed, "reason": fairness.reason, "groups": fairness.groups},
        "fairness.json",
    )
    mlflow.log_text(",".join(model.feature_names), "feature_names.txt")
    for name, fig in figures.items():
        mlflow.log_figure(fig, f"plots/{name}.png")
        _close(fig)


def log_model(model: ChurnModel, registered_name: str) -> str:
    """Log the booster and register it; returns the new version."""
    import mlflow
    import mlflow.xgboost

    info = mlflow.xgboost.log_model(model.booster, name="model", pip_requirements=PIP_REQUIREMENTS)
    version = mlflow.register_model(info.model_uri, registered_name)
    return str(version.version)


def log_decision(decision: Decision, version: str | None) -> None:
    import mlflow

    mlflow.set_tags(
        {
            "promotion_decision": "promoted" if decision.promote else "rejected",
            "promotion_reason": decision.reason[:5000],
            "model_version": version or "",
        }
    )
    mlflow.log_dict({**decision.to_dict(), "version": version}, "promotion.json")
    if decision.champion_auc is not None:
        mlflow.log_metric("champion_holdout_auc", decision.champion_auc)


def _metric_key(name: str) -> str:
    return "".join(c if c.isalnum() or c in "_-. /" else "_" for c in name).replace(" ", "_")


def _close(fig: Any) -> None:
    import matplotlib.pyplot as plt

    plt.close(fig)
