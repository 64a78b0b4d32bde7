"""A run lock so two nightly runs (or a nightly and a manual job) never overlap.

The lock is a file created with O_CREAT | O_EXCL (atomic on local and NFS-v3+ file systems)
holding the owner's pid, host and start time. A lock whose owner is gone is *stale* and is
taken over: on the same host, when its pid no longer runs; from another host, once it is older
than ``stale_after_s``. Anything else refuses with who holds it.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


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


@contextmanager
def run_lock(path: str | Path, stale_after_s: float, label: str = "nightly") -> Iterator[dict]:
    """Hold the lock at ``path`` for the block.

    Raises:
        LockHeld: a live run holds it (the message names its pid, host and start time).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    me = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started_at": time.time(),
        "label": label,
    }
    for attempt in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _read(path)
            if attempt == 0 and is_stale(owner, stale_after_s):
                print(f"[lock] taking over stale lock {path} (owner {owner or 'unreadable'})")
                path.unlink(missing_ok=True)
                continue
            since = time.strftime(
                "%Y-%m-%d %H:%M:%S", time.gmtime(float(owner.get("started_at", 0)))
            )
            raise LockHeld(
                f"{label}: another run holds {path}: pid {owner.get('pid')} on "
                f"{owner.get('host')} ({owner.get('label')}) since {since} UTC"
            ) from None
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(me, fh)
        break
    try:
        yield me
    finally:
        if _read(path).get("pid") == me["pid"]:
            path.unlink(missing_ok=True)
