"""The profile writers' lock (pipelines/locks.py): a waiter gets it once the holder lets go, a
claim goes before waiters without one, a dead holder or claimant is passed over, a lock file
not yet written is not, and a wait that lasts too long fails naming the holder. A process's
threads share one hold (``SharedHold``: the stream's batches and its probable refresher)
without starving a claimant."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pipelines.locks import LockHeld, SharedHold, WritersLock, run_lock, waiting_lock


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_waiter_gets_the_lock_once_the_holder_lets_go(tmp_path):
    path = tmp_path / "w.lock"
    said, got = [], threading.Event()

    def waiter() -> None:
        with waiting_lock(path, 3600, "stream", wait_s=30, say=said.append):
            got.set()

    with run_lock(path, 3600, "profilake-ingest"):
        thread = threading.Thread(target=waiter)
        thread.start()
        time.sleep(0.5)
        assert not got.is_set()
    thread.join(timeout=10)
    assert got.is_set() and not path.exists()
    assert len(said) == 1 and "profilake-ingest" in said[0]


def test_a_claim_goes_before_waiters_without_one(tmp_path):
    path = tmp_path / "w.lock"
    order: list[str] = []

    def take(label: str, claim: bool) -> None:
        with waiting_lock(path, 3600, label, wait_s=30, claim=claim):
            order.append(label)
            time.sleep(0.3)

    with run_lock(path, 3600, "holder"):
        claimant = threading.Thread(target=take, args=("ingest", True))
        claimant.start()
        deadline = time.monotonic() + 10
        while not (tmp_path / "w.lock.wanted").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        batch = threading.Thread(target=take, args=("stream", False))
        batch.start()
        time.sleep(0.3)
    claimant.join(timeout=10)
    batch.join(timeout=10)
    assert order == ["ingest", "stream"]
    assert not (tmp_path / "w.lock.wanted").exists()


def test_a_dead_holder_or_claimant_is_passed_over(tmp_path):
    path = tmp_path / "w.lock"
    dead = {"pid": _dead_pid(), "host": socket.gethostname(), "started_at": time.time(),
            "label": "killed"}
    path.write_text(json.dumps(dead))
    (tmp_path / "w.lock.wanted").write_text(json.dumps(dead))
    with waiting_lock(path, 3600, "stream", wait_s=1) as me:
        assert json.loads(path.read_text())["pid"] == me["pid"]
    assert not path.exists()


def test_an_empty_lock_file_is_its_creators_until_it_is_old(tmp_path):
    """The creator writes its owner right after the exclusive create: a waiter reading the
    file in between must not take it over; a file left empty for long is a dead creator's."""
    import os

    path = tmp_path / "w.lock"
    path.write_text("")
    with pytest.raises(LockHeld), waiting_lock(path, 3600, "stream", wait_s=0.3):
        pass
    old = time.time() - 60
    os.utime(path, (old, old))
    with waiting_lock(path, 3600, "stream", wait_s=1) as me:
        assert json.loads(path.read_text())["pid"] == me["pid"]


def test_a_wait_too_long_fails_naming_the_holder(tmp_path):
    path = tmp_path / "w.lock"
    with run_lock(path, 3600, "profilake-unmerge") as holder, pytest.raises(
            LockHeld, match=rf"pid {holder['pid']} .*profilake-unmerge.*waited"), \
            waiting_lock(path, 3600, "stream", wait_s=0.3):
        pass
    assert not path.exists()


def _wait_for(condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_threads_of_a_process_hold_together_and_the_last_one_out_lets_go(tmp_path):
    path = tmp_path / "w.lock"
    shared = SharedHold(WritersLock(str(path), 3600, 30))
    first_in, first_may_leave = threading.Event(), threading.Event()

    def batch() -> None:
        with shared.hold("stream batch"):
            first_in.set()
            first_may_leave.wait(10)

    thread = threading.Thread(target=batch)
    thread.start()
    assert first_in.wait(10)
    with shared.hold("probable refresh"):  # joins at once, though the file is taken
        first_may_leave.set()
        thread.join(10)
        assert path.exists()  # the batch left, the refresh still holds it
    assert not path.exists()


def test_another_process_waits_for_every_thread_of_the_holder(tmp_path):
    path = tmp_path / "w.lock"
    shared = SharedHold(WritersLock(str(path), 3600, 30))
    got = threading.Event()

    def other_process() -> None:
        with waiting_lock(path, 3600, "profilake-ingest", wait_s=30):
            got.set()

    with shared.hold("stream batch"):
        other = threading.Thread(target=other_process)
        other.start()
        with shared.hold("probable refresh"):
            time.sleep(0.3)
        time.sleep(0.3)
        assert not got.is_set()  # one thread still holds it
    other.join(10)
    assert got.is_set()


def test_a_claimant_goes_before_a_thread_that_would_join_the_hold(tmp_path):
    """The batches and the refresh could overlap without end; a claim makes a thread wait
    for the holders to leave and lets the claimant in first."""
    path = tmp_path / "w.lock"
    shared = SharedHold(WritersLock(str(path), 3600, 30), poll_s=0.01)
    order: list[str] = []

    def claimant() -> None:
        with waiting_lock(path, 3600, "profilake-ingest", wait_s=30, claim=True):
            order.append("ingest")
            time.sleep(0.3)

    def joiner() -> None:
        with shared.hold("probable refresh"):
            order.append("refresh")

    with shared.hold("stream batch"):
        claim = threading.Thread(target=claimant)
        claim.start()
        _wait_for((tmp_path / "w.lock.wanted").exists)
        join = threading.Thread(target=joiner)
        join.start()
        time.sleep(0.3)
        assert order == []  # not joined while the claim stands
    claim.join(10)
    join.join(10)
    assert order == ["ingest", "refresh"]
    assert not path.exists()


def test_a_claim_is_whole_whenever_it_can_be_seen(tmp_path, monkeypatch):
    """Between a file's create and its write a reader sees it empty, and an empty claim reads
    as no claim: the claim file must appear whole or not at all."""
    from pipelines.locks import _live_claim

    path = tmp_path / "w.lock"
    wanted = tmp_path / "w.lock.wanted"
    seen: list[bool] = []
    write_text = Path.write_text

    def watched(self, data, *args, **kwargs):
        self.touch()  # what the write's own open leaves for an instant
        if wanted.exists():
            seen.append(bool(_live_claim(path, 3600)))
        return write_text(self, data, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", watched)
    with waiting_lock(path, 3600, "profilake-ingest", wait_s=5, claim=True):
        pass
    assert False not in seen, "a reader found the claim file empty"
