"""File locks between jobs: the nightly lock (two nightly runs, or a nightly and maintenance,
never overlap: ``run_lock`` refuses at once) and the profile writers' lock (the stream's
micro-batches and the batch jobs that rewrite identity and profiles take turns:
``waiting_lock`` waits for the holder).

A lock is a file created with O_CREAT | O_EXCL (atomic on local and NFS-v3+ file systems)
holding the owner's pid, host and start time. A lock whose owner is gone is *stale* and is
taken over: on the same host, when its pid no longer runs; from another host, once it is older
than ``stale_after_s``. An empty or unreadable lock file is stale only once it is
``UNWRITTEN_GRACE_S`` old: its creator writes its owner right after the exclusive create, and a
waiter must not take over in between. Anything else refuses with who holds it.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class LockHeld(RuntimeError):
    """Another run holds the lock."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def is_stale(owner: dict, stale_after_s: float, now: float | None = None) -> bool:
    now = time.time() if now is None else now
    age = now - float(owner.get("started_at", 0))
    if owner.get("host") == socket.gethostname() and "pid" in owner:
        return not _alive(int(owner["pid"]))
    return age > stale_after_s


def _owner(label: str) -> dict:
    """What a lock or claim file holds: who, where, since when."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "started_at": time.time(),
            "label": label}


def _acquire(path: Path, stale_after_s: float, label: str) -> dict:
    """Take the lock or raise LockHeld naming its holder (a stale one is taken over)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    me = _owner(label)
    for attempt in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _read(path)
            # Empty or unreadable: its creator may be between the create and the write below;
            # only a file left like that for a while is a dead creator's.
            unwritten = not owner and _age(path) < UNWRITTEN_GRACE_S
            if attempt == 0 and not unwritten and is_stale(owner, stale_after_s):
                print(f"[lock] taking over stale lock {path} (owner {owner or 'unreadable'})",
                      file=sys.stderr)
                path.unlink(missing_ok=True)
                continue
            raise LockHeld(f"{label}: another run holds {path}: {_describe(owner)}") from None
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(me, fh)
        return me
    raise AssertionError("unreachable")


UNWRITTEN_GRACE_S = 10.0


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 0.0


def _describe(owner: dict) -> str:
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(float(owner.get("started_at", 0))))
    return (f"pid {owner.get('pid')} on {owner.get('host')} ({owner.get('label')}) "
            f"since {since} UTC")


def _release(path: Path, me: dict) -> None:
    if _read(path).get("pid") == me["pid"]:
        path.unlink(missing_ok=True)


@contextmanager
def run_lock(path: str | Path, stale_after_s: float, label: str = "nightly") -> Iterator[dict]:
    """Hold the lock at ``path`` for the block.

    Raises:
        LockHeld: a live run holds it (the message names its pid, host and start time).
    """
    path = Path(path)
    me = _acquire(path, stale_after_s, label)
    try:
        yield me
    finally:
        _release(path, me)


def _claim_path(path: Path) -> Path:
    return path.with_name(path.name + ".wanted")


def _write_whole(path: Path, owner: dict) -> None:
    """Write ``owner`` to ``path`` so that readers see no file or all of it: a plain write is
    seen empty between its create and its write, and a claim read empty is no claim."""
    part = path.with_name(f"{path.name}.{os.getpid()}-{threading.get_ident()}.part")
    part.write_text(json.dumps(owner), encoding="utf-8")
    os.replace(part, path)


def _live_claim(path: Path, stale_after_s: float) -> dict:
    """The owner of a live claim on the lock at ``path``; empty when none (or stale)."""
    claimant = _read(_claim_path(path))
    return claimant if claimant and not is_stale(claimant, stale_after_s) else {}


@contextmanager
def waiting_lock(
    path: str | Path,
    stale_after_s: float,
    label: str,
    *,
    wait_s: float,
    claim: bool = False,
    poll_s: float = 0.1,
    say: Callable[[str], None] | None = None,
) -> Iterator[dict]:
    """Hold the lock at ``path`` for the block, waiting up to ``wait_s`` for a live holder.

    ``claim``: announce the wait in ``<lock>.wanted`` so that waiters without a claim — the
    stream, which takes the lock for every micro-batch and would otherwise get it back
    between two polls — let the claimant in first: they wait while a live claim exists.
    ``say`` hears once that the lock is busy and who holds it.

    Raises:
        LockHeld: still held (or claimed) after ``wait_s``.
    """
    path = Path(path)
    wanted = _claim_path(path)
    deadline = time.monotonic() + wait_s
    told = False
    mine = None
    if claim:
        path.parent.mkdir(parents=True, exist_ok=True)
        mine = _owner(label)
        _write_whole(wanted, mine)
    try:
        while True:
            claimant = {} if claim else _live_claim(path, stale_after_s)
            try:
                if claimant:
                    raise LockHeld(f"{label}: {path} is claimed by {_describe(claimant)}")
                me = _acquire(path, stale_after_s, label)
                break
            except LockHeld as busy:
                if time.monotonic() > deadline:
                    raise LockHeld(f"{busy} (waited {wait_s:.0f}s)") from None
                if say is not None and not told:
                    say(f"waiting: {busy}")
                    told = True
                time.sleep(poll_s)
    finally:
        if mine is not None and _read(wanted).get("pid") == mine["pid"]:
            wanted.unlink(missing_ok=True)
    try:
        yield me
    finally:
        _release(path, me)


@dataclass(frozen=True)
class WritersLock:
    """The profile writers' lock (conf ``profiles.writers_lock``).

    Rule: two writers never rewrite identity links or profiles at once. A stream micro-batch
    holds it for its whole run, which covers the span in which its profile rows are ahead of
    the event log (from its profile MERGE to its events append); the batch ingest from reading
    the event log for identity to its profile MERGE; profilake-unmerge for its whole run.
    Otherwise a rebuild computed from the log as it was would overwrite a micro-batch's newer
    profile rows, and delete the profiles it created, without a Delta conflict: a MERGE checks
    only what changed after it began, not after its inputs were read. The batch jobs claim
    the lock (``waiting_lock``) so the stream's next micro-batch waits for them."""

    file: str
    stale_after_s: float
    wait_s: float

    @classmethod
    def from_conf(cls, conf: Any) -> WritersLock:
        section = conf.get("profiles.writers_lock")
        return cls(str(section["file"]), float(section["stale_after_s"]),
                   float(section["wait_s"]))

    def hold(self, label: str, *, claim: bool = False,
             say: Callable[[str], None] | None = None):
        return waiting_lock(self.file, self.stale_after_s, label, wait_s=self.wait_s,
                            claim=claim, say=say)


class SharedHold:
    """One process's hold on the profile writers' lock, shared by its threads: the stream's
    micro-batches and its probable refresher (``pipelines/stream/probable_sync.py``) hold it
    together, other processes wait for both.

    Why sharing is sound: the rule (``WritersLock``) is about rewriting identity links and
    profiles; the refresher writes neither, only the probable tier, which batches do not
    write, and the chatbot export, where the two take turns (``ChatbotSync``). What it must
    not overlap is another process's rewrite (a batch ingest recomputes the tier whole).

    The first thread in takes the lock file, the last one out removes it. While another
    process claims the lock (``waiting_lock``'s ``claim``), a thread does not join a hold
    already taken: it waits for the holders to leave, then queues behind the claimant like
    any waiter, so a claimant is never starved by holds that overlap one another.
    """

    def __init__(self, lock: WritersLock, poll_s: float = 0.1) -> None:
        self.lock = lock
        self._poll_s = poll_s
        self._cond = threading.Condition()
        self._holders = 0
        self._file: Any = None  # the lock file's context manager while this process holds it

    @contextmanager
    def hold(self, label: str, *, say: Callable[[str], None] | None = None) -> Iterator[None]:
        """Hold the lock for the block, with this process's other holders (class docstring).

        Raises:
            LockHeld: another process held or claimed it for ``wait_s``.
        """
        self._enter(label, say)
        try:
            yield
        finally:
            with self._cond:
                self._holders -= 1
                if self._holders == 0:
                    held, self._file = self._file, None
                    held.__exit__(None, None, None)
                    self._cond.notify_all()

    def _enter(self, label: str, say: Callable[[str], None] | None) -> None:
        deadline = time.monotonic() + self.lock.wait_s
        with self._cond:
            while self._holders and _live_claim(Path(self.lock.file), self.lock.stale_after_s):
                if time.monotonic() > deadline:
                    raise LockHeld(f"{label}: {self.lock.file} is claimed by another run "
                                   f"(waited {self.lock.wait_s:.0f}s)")
                self._cond.wait(self._poll_s)
            if self._holders == 0:
                # Taken with the condition held: the others would wait for the file anyway.
                held = self.lock.hold(label, say=say)
                held.__enter__()
                self._file = held
            self._holders += 1
