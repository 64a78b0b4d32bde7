"""What the nightly left in MLflow (pipelines/models/runs.py ``stage_run``): the last
nightly run that finished, and the PSI the drift stage logged. Read, never recomputed."""

from __future__ import annotations

from datetime import UTC, datetime

from pipelines.config import Conf

SEARCHED = 50  # recent finished runs looked at: a backfill may have ended after today's run


def _finished(conf: Conf, stage: str):
    import mlflow

    from pipelines.tracking import configure_mlflow

    experiment = configure_mlflow(conf)
    runs = mlflow.search_runs(
        experiment_ids=[experiment],
        filter_string=f"tags.stage = '{stage}' and attributes.status = 'FINISHED'",
        order_by=["attributes.end_time DESC"], max_results=SEARCHED, output_format="list")
    return runs


def last_nightly(conf: Conf) -> tuple[datetime | None, str | None]:
    """(end time, as_of) of the nightly run (``profilake-nightly``, tag stage=nightly) that
    finished successfully most recently; (None, None) when none did."""
    runs = _finished(conf, "nightly")
    if not runs:
        return None, None
    run = runs[0]
    return (datetime.fromtimestamp(run.info.end_time / 1000, UTC),
            run.data.tags.get("as_of"))


def latest_drift(conf: Conf) -> tuple[dict[str, float], str | None]:
    """``{feature: PSI}`` from the finished drift run of the newest as_of (the nightly's
    drift stage or ``profilake-monitor-drift``; ``psi.<feature>`` metrics), and that as_of.
    Empty when no drift run compared two snapshots."""
    runs = [r for r in _finished(conf, "drift")
            if any(k.startswith("psi.") for k in r.data.metrics)]
    if not runs:
        return {}, None
    run = max(runs, key=lambda r: (r.data.tags.get("as_of", ""), r.info.end_time))
    psi = {k.removeprefix("psi."): float(v) for k, v in run.data.metrics.items()
           if k.startswith("psi.")}
    return psi, run.data.tags.get("as_of")
