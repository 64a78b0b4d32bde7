"""Storage failures a job explains in one line instead of a JVM stack trace.

A full disk, a read-only mount or a folder the job may not write surface from Spark as an
``IOException`` deep inside a Py4J error; what an operator needs is which of the three it is
and that a restart, once it is fixed, resumes the work: every job is safe to rerun (the stream
from its checkpoint, exactly once; the batch jobs skip what committed).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

# (marker in the exception text, what it means for the operator)
_KINDS = (
    ("No space left on device", "the disk holding the lakehouse is full"),
    ("Disk quota exceeded", "the disk quota of the lakehouse folder is used up"),
    ("Read-only file system", "the lakehouse folder is on a read-only file system"),
    ("AccessDeniedException", "the job may not write the lakehouse folder (permission denied)"),
    ("Permission denied", "the job may not write the lakehouse folder (permission denied)"),
)
# A path in front of the marker, as java.nio reports it: "/data/x/_delta_log: Read-only …".
_PATH = re.compile(r"(/[^\s:'\"]+): (?:Read-only file system|Permission denied)")


# Delta and Hadoop report a folder they could not create without the reason (a mkdirs that
# returned false): the file system is asked instead.
_NOT_CREATED = re.compile(
    r"(?:DELTA_CANNOT_CREATE_LOG_PATH\] Cannot create|Mkdirs failed to create) "
    r"(?:file:)?(/[^\s'\"]+)")
_RESUME = "fix it and start the job again — it resumes where it stopped"


def storage_failure(text: str) -> str | None:
    """One line naming the storage problem in ``text`` (an exception's text), or None when it
    is not one: ``<what>[ (<path>)]; fix it and start the job again — it resumes where it
    stopped``. A folder Delta or Hadoop could not create is diagnosed on the file system
    (``folder_problem``)."""
    for marker, what in _KINDS:
        if marker in text:
            where = _PATH.search(text)
            at = f" ({where.group(1)})" if where else ""
            return f"{what}{at}; {_RESUME}"
    not_created = _NOT_CREATED.search(text)
    if not_created:
        path = not_created.group(1)
        return f"{folder_problem(path)} ({path}); {_RESUME}"
    return None


def folder_problem(path: str) -> str:
    """Why a folder at ``path`` cannot be created, asked of its nearest existing parent: a
    read-only file system, no write permission, a full disk, else not known."""
    parent = Path(path)
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    stat = os.statvfs(parent)
    if stat.f_flag & os.ST_RDONLY:
        return "the lakehouse folder is on a read-only file system"
    if not os.access(parent, os.W_OK):
        return "the job may not write the lakehouse folder (permission denied)"
    if stat.f_bavail == 0:
        return "the disk holding the lakehouse is full"
    return "a folder of the lakehouse could not be created"
