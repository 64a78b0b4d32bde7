"""Which failures of a Delta write are worth running the write again, and the bounded retry
loop every writer uses (the stream's steps, the batch ingest's stages, the export, table
maintenance)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")

# Delta's optimistic-concurrency conflicts: another writer committed first; the step may be
# recomputed and retried with the same txn (so a write that did commit is skipped).
CONFLICTS = (
    "ConcurrentAppendException",
    "ConcurrentDeleteReadException",
    "ConcurrentDeleteDeleteException",
    "ConcurrentTransactionException",
    "ConcurrentWriteException",
    "MetadataChangedException",
    "ProtocolChangedException",
    "DELTA_CONCURRENT_",
)
# A service hiccup (Redis restarting, a dropped socket): worth the same bounded retries.
TRANSIENT = ("ConnectionError", "TimeoutError")


def is_conflict(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}"
    return any(marker in text for marker in CONFLICTS)


def is_retryable(exc: BaseException) -> bool:
    return is_conflict(exc) or type(exc).__name__ in TRANSIENT


def with_retries(
    step: Callable[[], T], *, name: str, attempts: int, backoff_s: float
) -> T:
    """Run ``step``; on a Delta conflict or a transient connection error run it again (it
    must re-read what it depends on), at most ``attempts`` times in all, sleeping
    ``backoff_s`` doubled after each failure."""
    delay = backoff_s
    for attempt in range(1, attempts + 1):
        try:
            return step()
        except Exception as exc:
            if not is_retryable(exc) or attempt == attempts:
                raise
            log.warning("%s: retryable failure (attempt %d/%d), retrying in %.1fs: %s",
                        name, attempt, attempts, delay, str(exc).splitlines()[0])
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Retry:
    """A writer's bounded retries, from a conf section's ``retry`` keys."""

    attempts: int
    backoff_s: float

    @classmethod
    def from_conf(cls, section: Mapping[str, Any]) -> Retry:
        return cls(int(section["max_attempts"]), float(section["backoff_s"]))

    def __call__(self, name: str, step: Callable[[], T]) -> T:
        return with_retries(step, name=name, attempts=self.attempts, backoff_s=self.backoff_s)
