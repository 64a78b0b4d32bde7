"""Undos started through the API are files, not process memory (pipelines/serving/undo.py):
another API worker, or the API restarted, answers ``GET /v1/undos/{id}`` for them, and "one
undo at a time" holds across processes. The undo job is the stand-in (tests/undo_stand_in.py,
which records the undo in ``identity_unmerges`` as the real job's last step does); the real
job is tested end to end in tests/integration/test_unmerge.py."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pipelines.catalog import Catalog
from pipelines.config import PROJECT_DIR
from pipelines.serving.undo import Busy, UndoJobs

STAND_IN = str(Path(__file__).parents[1] / "undo_stand_in.py")
REFUSAL = "profilake-unmerge: merge 0123456789abcdef: undo merge fedcba9876543210 first"


def _jobs(conf, *stand_in_args: str) -> UndoJobs:
    jobs = UndoJobs.from_conf(conf)
    jobs.command = (sys.executable, STAND_IN, Catalog(conf).path("identity_unmerges"),
                    *stand_in_args)
    return jobs


def _start_in_a_process_that_exits(conf, *stand_in_args: str) -> str:
    """An API process starts an undo and is gone right after (a restart, a killed worker):
    nobody waits for the undo's child. Returns the undo id it printed."""
    script = textwrap.dedent(f"""
        import json, os, sys
        from pipelines.config import load_conf, relocated
        from tests.unit.test_undo_jobs import _jobs
        conf = relocated(load_conf("test"), {str(conf.get("paths.root"))!r})
        state = _jobs(conf, *{list(stand_in_args)!r}).start("0123456789abcdef", "api-key:abcd1234")
        print(state["undo_id"], flush=True)
        os._exit(0)
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_DIR, check=True,
                         capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1]


def _settled(jobs: UndoJobs, undo_id: str, timeout_s: float = 30) -> dict:
    deadline = time.monotonic() + timeout_s
    while (state := jobs.get(undo_id))["status"] == "running":
        assert time.monotonic() < deadline, "the undo never ended"
        time.sleep(0.1)
    return state


def test_an_undo_outlives_the_api_process_that_started_it(conf):
    undo_id = _start_in_a_process_that_exits(conf, "--sleep", "3")
    other = _jobs(conf)  # another worker, or the API after a restart
    assert other.get(undo_id)["status"] == "running"
    with pytest.raises(Busy):
        other.start("fedcba9876543210", "api-key:abcd1234")
    state = _settled(other, undo_id)
    # Nobody saw its exit code: done because identity_unmerges holds the merge.
    assert state == {"undo_id": undo_id, "merge_id": "0123456789abcdef", "status": "done",
                     "error": None, "by": "api-key:abcd1234",
                     "started_at": state["started_at"]}
    assert [s["undo_id"] for s in other.started()] == [undo_id]


def test_an_unwatched_failed_undo_reports_the_jobs_error_line(conf):
    undo_id = _start_in_a_process_that_exits(conf, "--sleep", "0.5", "--fail", REFUSAL)
    state = _settled(_jobs(conf), undo_id)
    assert (state["status"], state["error"]) == ("failed", REFUSAL)


def test_a_watched_undo_is_known_to_every_api_process(conf):
    starter = _jobs(conf, "--sleep", "0.5", "--fail", REFUSAL)
    undo_id = starter.start("0123456789abcdef", "api-key:abcd1234")["undo_id"]
    assert _settled(_jobs(conf), undo_id)["status"] == "failed"
    deadline = time.monotonic() + 10
    while not (starter.log_dir / f"{undo_id}.exit").exists():  # the starter's reaper
        assert time.monotonic() < deadline
        time.sleep(0.05)
    for jobs in (starter, _jobs(conf)):
        assert (jobs.get(undo_id)["status"], jobs.get(undo_id)["error"]) == ("failed", REFUSAL)
    # The failed one no longer blocks the next.
    again = starter.start("0123456789abcdef", "api-key:abcd1234")
    assert again["status"] == "running" and again["undo_id"] != undo_id
    assert _settled(starter, again["undo_id"])["status"] == "failed"


def test_unknown_undo_ids_are_none(conf):
    assert _jobs(conf).get("u_0123456789abcdef") is None
    assert _jobs(conf).started() == []
