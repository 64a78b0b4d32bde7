"""Reading a Spark event log (``spark.eventLog.dir``, uncompressed) for the profilers."""

from __future__ import annotations

import json
from pathlib import Path


def read_root_executions(events_dir: Path) -> dict[int, dict]:
    """Root SQL executions by id: ``start`` and ``end`` (ms; ``end`` missing if the log stops
    first), ``description`` (Spark's name for the call) and ``plan`` (the physical plan's top
    line). Nested executions (a MERGE's own jobs) are left out: their time is in their root's."""
    runs: dict[int, dict] = {}
    for log in sorted(events_dir.rglob("events_*")):
        for line in log.open():
            event = json.loads(line)
            kind = event["Event"]
            if kind.endswith("SQLExecutionStart"):
                if event.get("rootExecutionId", event["executionId"]) == event["executionId"]:
                    runs[event["executionId"]] = {
                        "start": event["time"],
                        "description": event["description"].replace("\n", " "),
                        "plan": event.get("physicalPlanDescription", "").split("\n")[1:2],
                    }
            elif kind.endswith("SQLExecutionEnd") and event["executionId"] in runs:
                runs[event["executionId"]]["end"] = event["time"]
    return runs
