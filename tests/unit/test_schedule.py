"""The batch schedule (jobs/dags/, conf/cron/; docs/operations.md, "Scheduling"): every command
is a console script of pyproject.toml whose parser takes the arguments given, in the order the
business rule sets; and Airflow itself parses the DAGs into that order, retries and limits.

Airflow is not a project dependency (its pins conflict with the project's): the Airflow test
installs the version in jobs/dags/requirements-airflow.txt into a venv of its own under var/
with uv (measured 3.5 s from a warm uv cache, 3.9 s cold on this machine) and skips, saying
why, when that is not possible (no uv, no network).
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import tomllib

import pytest

from jobs.dags import profilake_schedule as schedule
from pipelines.config import PROJECT_DIR
from pipelines.nightly.cli import dates, parser

SCRIPTS = set(tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["project"]["scripts"])
# The rule in profilake_schedule's doc.
ORDER = ("ingest", "nightly", "export", "maintenance", "monitor")


def test_steps_run_in_the_rules_order_and_name_console_scripts_with_valid_arguments():
    assert tuple(s.task_id for s in schedule.STEPS) == ORDER
    for step in (*schedule.STEPS, *schedule.BACKFILL_STEPS, schedule.LANE_CHECKS):
        script, *args = shlex.split(step.command)
        assert script in SCRIPTS, f"{step.task_id}: {script} is not in [project.scripts]"
        assert step.retries >= 1 and 0 < step.timeout_s <= 24 * 3600
        if script == "profilake-nightly":  # the date arguments the nightly's own parser takes
            filled = [a.format(ds="2026-09-30", start="2026-09-01", end="2026-09-03") for a in args]
            got = dates(parser(None).parse_args(filled))
            assert [d.isoformat() for d in got] in (
                ["2026-09-30"],
                ["2026-09-01", "2026-09-02", "2026-09-03"],
            )
        if script == "profilake-monitor":  # checks it knows; a date its --as-of parses
            from pipelines.monitoring.params import CHECKS

            named = [b for a, b in zip(args, args[1:], strict=False) if a == "--check"]
            assert set(named) <= set(CHECKS)
            assert args[:1] == ["--check"] or args == ["--as-of", "{ds}"]


def test_the_cron_example_runs_the_same_scripts_in_the_same_order():
    lines = (PROJECT_DIR / "conf/cron/profilake.cron").read_text().splitlines()
    (job,) = [line for line in lines if line[:1].isdigit()]
    assert job.split()[:5] == schedule.CRON.split()
    used = re.findall(r"profilake-[a-z-]+", job)
    assert used == [shlex.split(s.command)[0] for s in schedule.STEPS]
    (lanes,) = [line for line in lines if line.startswith("*/")]
    assert lanes.split()[:5] == schedule.LANES_CRON.split()
    assert schedule.LANE_CHECKS.command in lanes


AIRFLOW_VENV = PROJECT_DIR / "var" / "airflow-venv"
BAG = """
import json, sys
from pathlib import Path
from airflow.dag_processing.dagbag import BundleDagBag
bag = BundleDagBag(dag_folder=sys.argv[1], bundle_path=Path(sys.argv[1]))
print(json.dumps({
    "errors": {k: str(v)[-2000:] for k, v in bag.import_errors.items()},
    "dags": {i: {
        "catchup": d.catchup,
        "schedule": [type(d.timetable).__name__, getattr(d.timetable, "expression", None),
                     str(getattr(d.timetable, "timezone", None))],
        "deadline": d.deadline is not None,
        "tasks": {t.task_id: {
            "upstream": sorted(t.upstream_task_ids), "retries": t.retries,
            "retry_delay_s": t.retry_delay.total_seconds(),
            "timeout_s": t.execution_timeout.total_seconds(), "command": t.bash_command,
        } for t in d.tasks},
    } for i, d in bag.dags.items()},
}))
"""


def _airflow_python() -> str:
    python = AIRFLOW_VENV / "bin" / "python"
    marker = AIRFLOW_VENV / ".requirements"
    wanted = (PROJECT_DIR / "jobs/dags/requirements-airflow.txt").read_text()
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return str(python)
    uv = PROJECT_DIR / ".venv" / "bin" / "uv"
    if not uv.exists():
        pytest.skip(f"Airflow is not installed and there is no uv at {uv} to install it")
    steps = [
        [str(uv), "venv", "--quiet", "--clear", "--python", sys.executable, str(AIRFLOW_VENV)],
        [str(uv), "pip", "install", "--quiet", "--python", str(python),
         "-r", str(PROJECT_DIR / "jobs/dags/requirements-airflow.txt")],
    ]
    for cmd in steps:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            pytest.skip(f"could not install Airflow ({' '.join(cmd[:3])}): {done.stderr[-500:]}")
    marker.write_text(wanted)
    return str(python)


def test_airflow_parses_the_dags_into_the_schedule(tmp_path):
    python = _airflow_python()
    env = {"PATH": "/usr/bin:/bin", "AIRFLOW_HOME": str(tmp_path), "HOME": str(tmp_path)}
    done = subprocess.run(
        [python, "-c", BAG, str(PROJECT_DIR / "jobs" / "dags")],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    bag = json.loads(done.stdout.strip().splitlines()[-1])
    assert bag["errors"] == {}
    daily, backfill = bag["dags"][schedule.DAG_ID], bag["dags"][schedule.BACKFILL_DAG_ID]
    lanes = bag["dags"][schedule.LANES_DAG_ID]
    assert daily["catchup"] is False and daily["deadline"] is True
    # Data intervals: a run's {{ ds }} is the day it covers, the nightly's as-of date.
    assert daily["schedule"] == ["CronDataIntervalTimetable", schedule.CRON, "UTC"]
    assert lanes["schedule"][0] == "CronTriggerTimetable"
    runs = ((daily, schedule.STEPS), (backfill, schedule.BACKFILL_STEPS),
            (lanes, (schedule.LANE_CHECKS,)))
    for dag, steps in runs:
        assert list(dag["tasks"]) == [s.task_id for s in steps]
        for before, step in zip((None, *steps), steps, strict=False):
            task = dag["tasks"][step.task_id]
            assert task["upstream"] == ([before.task_id] if before else [])
            assert (task["retries"], task["retry_delay_s"], task["timeout_s"]) == (
                step.retries, step.retry_delay_s, step.timeout_s)
            assert shlex.split(task["command"])[0] in SCRIPTS
    assert daily["tasks"]["nightly"]["command"] == "profilake-nightly --as-of {{ ds }}"
