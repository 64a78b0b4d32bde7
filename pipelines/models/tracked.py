"""Reading back what the nightly logged to MLflow (pipelines/models/runs.py): the churn runs
with their metrics and promotion decisions, the registry's champion and challenger, logged
artifacts (fairness groups, plots) and the drift PSI per as_of. Read-only: unlike
``configure_mlflow`` it creates no experiment.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines.config import Conf
from pipelines.models.promotion import champion_version
from pipelines.tracking import tracking_uri

CHURN_METRICS = (
    "holdout_auc",
    "baseline_auc",
    "champion_holdout_auc",
    "cv_auc",
    "holdout_pr_auc",
    "holdout_brier",
    "holdout_ece",
    "fairness_score_gap",
    "fairness_rate_gap",
)


def open_tracking(conf: Conf) -> tuple[Any, str | None]:
    """An ``MlflowClient`` on the conf's tracking store and the experiment's id (None when
    nothing was logged yet). Also points ``mlflow``'s global tracking URI at that store, so
    ``models:/…`` URIs resolve there."""
    import mlflow

    # A progress bar per downloaded artifact says nothing in a notebook or a report.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    uri = tracking_uri(conf)
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name(str(conf.get("mlflow.experiment")))
    return client, experiment.experiment_id if experiment else None


def stage_runs(client: Any, experiment_id: str | None, stage: str) -> list[Any]:
    """The finished runs of one nightly stage (``churn``, ``drift``…), oldest first."""
    if experiment_id is None:
        return []
    return client.search_runs(
        [experiment_id],
        filter_string=f"tags.stage = '{stage}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time ASC"],
        max_results=10_000,
    )


def churn_runs(client: Any, experiment_id: str | None) -> pd.DataFrame:
    """One row per churn run that trained a model (skipped runs left out), oldest first: as_of,
    run id, registered version, promotion decision and the logged holdout metrics."""
    rows = []
    for run in stage_runs(client, experiment_id, "churn"):
        tags, metrics = run.data.tags, run.data.metrics
        if tags.get("skipped") == "true":
            continue
        rows.append(
            {
                "as_of": tags.get("as_of"),
                "started": pd.Timestamp(run.info.start_time, unit="ms"),
                "run_id": run.info.run_id,
                "model_version": tags.get("model_version"),
                "decision": tags.get("promotion_decision"),
                **{m: metrics.get(m) for m in CHURN_METRICS},
            }
        )
    columns = ["as_of", "started", "run_id", "model_version", "decision", *CHURN_METRICS]
    return pd.DataFrame(rows, columns=columns)


def champion_and_challenger(client: Any, model_name: str) -> pd.DataFrame:
    """The registered churn model's ``champion`` (alias) and ``challenger`` (the newest
    version that is not the champion), with the decision and holdout metrics of the run that
    trained each; no row for a role nobody holds."""
    from mlflow.exceptions import MlflowException

    try:
        versions = client.search_model_versions(f"name = '{model_name}'")
    except MlflowException:
        return pd.DataFrame()
    champion = champion_version(client, model_name)
    others = [v for v in versions if str(v.version) != champion]
    roles = [("champion", v) for v in versions if str(v.version) == champion]
    if others:
        roles.append(("challenger", max(others, key=lambda v: int(v.version))))
    rows = []
    for role, v in roles:
        run = client.get_run(v.run_id)
        rows.append(
            {
                "role": role,
                "version": str(v.version),
                "as_of": run.data.tags.get("as_of"),
                "decision": v.tags.get("promotion_decision"),
                "holdout_auc": run.data.metrics.get("holdout_auc"),
                "baseline_auc": run.data.metrics.get("baseline_auc"),
                "fairness_score_gap": run.data.metrics.get("fairness_score_gap"),
                "reason": v.tags.get("promotion_reason"),
                "run_id": v.run_id,
            }
        )
    return pd.DataFrame(rows)


def logged_file(client: Any, run_id: str, path: str) -> Path | None:
    """A local copy of the run's artifact ``path`` (e.g. ``plots/calibration.png``), or None
    when the run did not log it."""
    from mlflow.exceptions import MlflowException

    try:
        return Path(client.download_artifacts(run_id, path, tempfile.mkdtemp(prefix="mlflow-")))
    except (MlflowException, OSError):
        return None


def fairness_groups(client: Any, run_id: str) -> tuple[pd.DataFrame, str | None]:
    """The churn run's fairness check (``fairness.json``): per group of the fairness
    attribute its holdout rows, mean churn score and high-band rate, largest group first;
    and the check's verdict. Empty and None for a run that logged none."""
    found = logged_file(client, run_id, "fairness.json")
    if found is None:
        return pd.DataFrame(), None
    logged = json.loads(found.read_text())
    groups = pd.DataFrame.from_dict(logged.get("groups") or {}, orient="index")
    if not groups.empty:
        groups = groups.sort_values("n", ascending=False)
    verdict = f"{'passed' if logged.get('passed') else 'failed'}: {logged.get('reason')}"
    return groups, verdict


def drift_psi(client: Any, experiment_id: str | None) -> pd.DataFrame:
    """PSI per feature (columns) and as_of (rows, oldest first) from the latest drift run of
    each as_of; an as_of without a previous snapshot to compare with has no row."""
    latest: dict[str, dict[str, float]] = {}
    for run in stage_runs(client, experiment_id, "drift"):  # oldest first: later runs win
        psi = {
            k.removeprefix("psi."): v for k, v in run.data.metrics.items() if k.startswith("psi.")
        }
        if psi:
            latest[run.data.tags.get("as_of", "?")] = psi
    return pd.DataFrame.from_dict(latest, orient="index").sort_index().rename_axis("as_of")
