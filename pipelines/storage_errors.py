"""Storage failures a job explains in one line instead of a JVM stack trace.

A full disk, a read-only mount or a folder the job may not write surface from Spark as an
``IOException`` deep inside a Py4J error; what an operator needs is which of the three it is
and that a restart, once it is fixed, resumes the work: every job is safe to rerun (the stream
from its checkpoint, exactly once; the batch jobs skip what committed).
"""

from __future__ import annotations

import re

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


def storage_failure(text: str) -> str | None:
    """One line naming the storage problem in ``text`` (an exception's text), or None when it
    is not one: ``<what>[ (<path>)]; fix it and start the job again — it resumes where it
    stopped``."""
    for marker, what in _KINDS:
        if marker in text:
            where = _PATH.search(text)
            at = f" ({where.group(1)})" if where else ""
            return f"{what}{at}; fix it and start the job again — it resumes where it stopped"
    return None
