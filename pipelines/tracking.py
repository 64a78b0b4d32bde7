"""MLflow tracking store: sqlite + local artifacts on a laptop, a tracking server on a cluster."""

from __future__ import annotations

import logging
from pathlib import Path

from pipelines.config import Conf

# A new sqlite store announces its schema creation and each migration at INFO on the terminal
# (MLflow's own handler): the first run's story should not start with database chatter.
_QUIET_LOGGERS = ("mlflow.store.db.utils", "alembic")


def configure_mlflow(conf: Conf) -> str:
    """Point MLflow at the configured store and return the experiment id (created if missing)."""
    import mlflow

    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    uri = tracking_uri(conf)
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    artifacts = conf.path("mlflow.artifact_root")
    if "://" not in artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        artifacts = Path(artifacts).as_uri()
    mlflow.set_tracking_uri(uri)
    name = str(conf.get("mlflow.experiment"))
    experiment = mlflow.get_experiment_by_name(name)
    experiment_id = (
        experiment.experiment_id
        if experiment
        else mlflow.create_experiment(name, artifact_location=artifacts)
    )
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def tracking_uri(conf: Conf) -> str:
    uri = str(conf.get("mlflow.tracking_uri"))
    if uri.startswith("sqlite:///"):
        return f"sqlite:///{(conf.project_dir / uri.removeprefix('sqlite:///')).resolve()}"
    return uri
