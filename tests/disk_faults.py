"""Test tooling: a lakehouse on a disk of its own that a test may fill or make read-only
while a job writes to it (root only: it mounts a tmpfs)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def own_disk(path: Path, size_mb: int = 2048) -> Iterator[bool]:
    """A tmpfs of its own mounted at ``path`` (the lakehouse), which a test may fill; yields
    whether it could be mounted (root only)."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs",
                              str(path)], capture_output=True).returncode == 0
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(path)], check=True)


def fill(disk: Path) -> Path:
    """Take every free byte of the file system holding ``disk``; returns the ballast file."""
    ballast = disk / "ballast"
    with open(ballast, "wb", buffering=0) as f:  # unbuffered: nothing left for close()
        stat = os.statvfs(disk)
        # The running job writes too: leave it a margin, then take the rest in ever smaller
        # pieces until the file system refuses.
        with contextlib.suppress(OSError):
            os.posix_fallocate(f.fileno(), 0, max(0, stat.f_bavail * stat.f_frsize - 2**22))
        f.seek(0, os.SEEK_END)
        for piece in (2**20, 2**12):
            with contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * piece)
    return ballast



def remount(path: Path, mode: str, timeout_s: float = 30) -> None:
    """Remount the disk at ``path`` ``ro`` or ``rw``. A read-only remount is refused while a
    file is open for writing: retried until the job has none open (between two writes)."""
    deadline = time.monotonic() + timeout_s
    while True:
        done = subprocess.run(["mount", "-o", f"remount,{mode}", str(path)],
                              capture_output=True, text=True)
        if done.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"cannot remount {path} {mode}: {done.stderr}")
        time.sleep(0.05)
