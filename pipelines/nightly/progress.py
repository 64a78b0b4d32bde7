"""Per-stage progress lines and timings for the nightly jobs."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any


class Progress:
    """Prints ``[nightly 2026-10-01] ▸ features`` / ``✓ features  12.3 s  rows=…`` lines and
    keeps the seconds per stage in ``timings``."""

    def __init__(self, as_of: date, job: str = "nightly", stream=None):
        self.prefix = f"[{job} {as_of.isoformat()}]"
        self.timings: dict[str, float] = {}
        self.details: dict[str, dict[str, Any]] = {}
        self._stream = stream or sys.stdout

    def say(self, text: str) -> None:
        print(f"{self.prefix} {text}", file=self._stream, flush=True)

    @contextmanager
    def stage(self, name: str) -> Iterator[dict[str, Any]]:
        """Time the block; whatever it puts in the yielded dict is printed when it ends."""
        detail: dict[str, Any] = {}
        self.say(f"▸ {name} …")
        start = time.perf_counter()
        try:
            yield detail
        except BaseException:
            self.say(f"✗ {name} failed after {time.perf_counter() - start:.1f} s")
            raise
        seconds = time.perf_counter() - start
        self.timings[name] = seconds
        self.details[name] = detail
        extra = "  ".join(f"{k}={_fmt(v)}" for k, v in detail.items())
        self.say(f"✓ {name}  {seconds:.1f} s  {extra}".rstrip())


def _fmt(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
