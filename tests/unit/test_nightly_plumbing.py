"""The nightly's run lock, date arguments and progress lines (no Spark)."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
from datetime import date

import pytest

from pipelines.locks import LockHeld, run_lock
from pipelines.nightly.cli import dates, parser
from pipelines.nightly.progress import Progress


def test_lock_excludes_a_second_run_and_is_released(tmp_path):
    path = tmp_path / "locks" / "nightly.lock"
    with run_lock(path, 3600) as me:
        assert json.loads(path.read_text())["pid"] == me["pid"] == os.getpid()
        held = f"pid {os.getpid()} on {socket.gethostname()}"
        with pytest.raises(LockHeld, match=held), run_lock(path, 3600):
            pass
    assert not path.exists()
    with run_lock(path, 3600):  # free again
        pass


def test_a_lock_held_by_a_live_process_is_respected_and_a_dead_ones_taken_over(tmp_path):
    path = tmp_path / "nightly.lock"
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        owner = {"pid": sleeper.pid, "host": socket.gethostname(), "started_at": time.time()}
        path.write_text(json.dumps(owner))
        # On the same host, age does not matter: a live pid holds the lock.
        with pytest.raises(LockHeld, match=str(sleeper.pid)), run_lock(path, stale_after_s=0):
            pass
    finally:
        sleeper.kill()
        sleeper.wait()
    with run_lock(path, 3600) as me:  # the owner is gone: stale, taken over
        assert json.loads(path.read_text())["pid"] == me["pid"]
    # Another host's lock is stale only once older than stale_after_s.
    other = {"pid": 1, "host": "elsewhere", "started_at": time.time() - 10}
    path.write_text(json.dumps(other))
    with pytest.raises(LockHeld, match="elsewhere"), run_lock(path, stale_after_s=3600):
        pass
    with run_lock(path, stale_after_s=5):
        pass


def test_dates_single_default_and_backfill_range():
    p = parser("x")
    assert dates(p.parse_args(["--as-of", "2026-10-01"])) == [date(2026, 10, 1)]
    assert dates(p.parse_args([]), today=date(2026, 10, 2)) == [date(2026, 10, 1)]
    assert dates(p.parse_args(["--from", "2026-09-29", "--to", "2026-10-01"])) == [
        date(2026, 9, 29),
        date(2026, 9, 30),
        date(2026, 10, 1),
    ]
    with pytest.raises(SystemExit):
        dates(p.parse_args(["--from", "2026-10-02", "--to", "2026-10-01"]))
    with pytest.raises(SystemExit):
        dates(p.parse_args(["--to", "2026-10-01"]))
    with pytest.raises(SystemExit):
        p.parse_args(["--as-of", "2026-10-01", "--from", "2026-10-01"])


def test_progress_prints_one_line_per_stage_start_and_end():
    out = io.StringIO()
    progress = Progress(date(2026, 10, 1), stream=out)
    with progress.stage("features") as detail:
        detail["rows"] = 1234
    with pytest.raises(RuntimeError), progress.stage("models"):
        raise RuntimeError("boom")
    lines = out.getvalue().splitlines()
    assert lines[0] == "[nightly 2026-10-01] ▸ features …"
    assert lines[1].startswith("[nightly 2026-10-01] ✓ features ") and "rows=1,234" in lines[1]
    assert lines[3].startswith("[nightly 2026-10-01] ✗ models failed")
    assert set(progress.timings) == {"features"}
