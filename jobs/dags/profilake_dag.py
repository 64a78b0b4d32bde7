"""Airflow DAGs for profilake's batch jobs, built from ``profilake_schedule.py``
(docs/operations.md, "Scheduling").

- ``profilake_daily``: ingest → nightly → export → maintenance → monitor at 02:00 UTC, each a
  BashOperator
  running the job's console script with retries and a time limit; a deadline alert when the run
  is not done 8 h after it was queued. ``catchup=False``: missed days are filled with the
  backfill DAG (one process for the whole range) rather than one run per day.
- ``profilake_backfill``: manual only; ``nightly --from <start> --to <end>`` then the export.
  Trigger with ``airflow dags trigger profilake_backfill -c '{"start": "2026-09-01",
  "end": "2026-09-30"}'``.
- ``profilake_lane_checks``: the monitor's stream lag, freshness and quarantine checks every
  10 minutes.

Install: copy ``jobs/dags/*.py`` into Airflow's dags folder. The workers need the project
installed (its console scripts on PATH, or ``PROFILAKE_BIN`` set to the folder holding them,
e.g. the project's ``.venv/bin``) and ``PROFILAKE_ENV`` for the conf environment.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import (
    DAG,
    CronDataIntervalTimetable,
    DeadlineAlert,
    DeadlineReference,
    Param,
    SyncCallback,
    chain,
)

# Airflow puts the dags folder on sys.path, so the sibling module imports by its own name.
from profilake_schedule import (  # type: ignore[import-not-found]
    BACKFILL_DAG_ID,
    BACKFILL_STEPS,
    CRON,
    DAG_ID,
    DEADLINE_S,
    LANE_CHECKS,
    LANES_CRON,
    LANES_DAG_ID,
    START_DATE,
    STEPS,
    Step,
)

BIN = os.environ.get("PROFILAKE_BIN", "")
ENV = {"PROFILAKE_ENV": os.environ.get("PROFILAKE_ENV", "local")}


# Every DAG: no catchup (missed days go through the backfill DAG), one run at a time (the
# nightly's lock would refuse a second one anyway).
COMMON = {
    "start_date": datetime.fromisoformat(f"{START_DATE}T00:00:00+00:00"),
    "catchup": False,
    "max_active_runs": 1,
    "tags": ["profilake"],
}


def deadline_missed(**kwargs) -> None:
    """Deadline callback: the run is late; the log line is what alerting picks up."""
    logging.getLogger("profilake.schedule").error("profilake run missed its deadline: %s", kwargs)


def _task(step: Step, **fields: str) -> BashOperator:
    command = step.command.format(**fields)
    return BashOperator(
        task_id=step.task_id,
        bash_command=os.path.join(BIN, command) if BIN else command,
        env=ENV,
        append_env=True,  # keep PATH, JAVA_HOME, … of the worker
        retries=step.retries,
        retry_delay=timedelta(seconds=step.retry_delay_s),
        execution_timeout=timedelta(seconds=step.timeout_s),
    )


with DAG(
    dag_id=DAG_ID,
    # Data intervals, not trigger times: a run's {{ ds }} is the day it covers (see CRON).
    schedule=CronDataIntervalTimetable(CRON, timezone="UTC"),
    **COMMON,
    deadline=DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(seconds=DEADLINE_S),
        callback=SyncCallback(deadline_missed),
    ),
) as daily:
    chain(*[_task(step, ds="{{ ds }}") for step in STEPS])

with DAG(
    dag_id=BACKFILL_DAG_ID,
    schedule=None,
    **COMMON,
    params={
        "start": Param(START_DATE, type="string", format="date"),
        "end": Param(START_DATE, type="string", format="date"),
    },
) as backfill:
    chain(*[_task(s, start="{{ params.start }}", end="{{ params.end }}") for s in BACKFILL_STEPS])

with DAG(
    dag_id=LANES_DAG_ID,
    schedule=LANES_CRON,
    **COMMON,
) as lane_checks:
    _task(LANE_CHECKS)
