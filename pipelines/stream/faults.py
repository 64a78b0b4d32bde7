"""Test-only fault injection: make the streaming process die right after a named step.

``PROFILAKE_FAULT_AFTER=profiles,events`` with ``PROFILAKE_FAULT_DIR=/some/dir`` makes
``process_batch`` call ``os._exit(137)`` (what SIGKILL leaves as exit status) right after the
step, once per step: the first time a marker file ``<dir>/<step>`` is created, later runs go
on. Without the variables nothing happens. Steps: see ``microbatch.STEPS``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

FAULT_AFTER_ENV = "PROFILAKE_FAULT_AFTER"
FAULT_DIR_ENV = "PROFILAKE_FAULT_DIR"
EXIT_STATUS = 137


@dataclass(frozen=True)
class Faults:
    after: frozenset[str] = frozenset()
    marker_dir: str | None = None

    @classmethod
    def from_env(cls) -> Faults:
        steps = frozenset(s.strip() for s in os.environ.get(FAULT_AFTER_ENV, "").split(",")
                          if s.strip())
        return cls(steps, os.environ.get(FAULT_DIR_ENV)) if steps else cls()

    def reached(self, step: str, batch_id: int) -> None:
        if step not in self.after or not self.marker_dir:
            return
        marker = Path(self.marker_dir) / step
        try:
            marker.parent.mkdir(parents=True, exist_ok=True)
            with open(marker, "x") as fh:  # exclusive create: fire once per marker
                fh.write(f"batch {batch_id}\n")
        except FileExistsError:
            return
        print(f"FAULT injected after step '{step}' of batch {batch_id}: exiting",
              file=sys.stderr, flush=True)
        os._exit(EXIT_STATUS)
