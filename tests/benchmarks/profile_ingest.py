"""Where a batch ingest's time goes: ``run_ingest`` on one generated batch in this process, the
Spark event log on, then the stages' seconds and the longest root SQL executions.

Not a benchmark (``bench_ingest`` is): a profiler for issue 12's "profile before changing".
The generated landing files are kept under ``--dir`` and reused by later runs with the same
``--customers``, so two commits can be compared on the same data; each run ingests into a
fresh lakehouse ``<dir>/run-<tag>``. docs/performance.md, "Every bronze row was parsed three
times", came from this.

    python -m tests.benchmarks.profile_ingest --customers 100000 --dir /tmp/ingest --tag before
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from datetime import datetime
from pathlib import Path

from pipelines.config import load_conf, overridden, relocated
from pipelines.ingest.flow import run_ingest
from pipelines.ingest.sources import SOURCES
from pipelines.session import get_spark
from tests.benchmarks.eventlog import read_root_executions

NOW = datetime(2026, 12, 6)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--customers", type=int, default=100_000)
    p.add_argument("--dir", required=True, help="scratch directory (generated data is kept)")
    p.add_argument("--tag", default="run", help="names this run's lakehouse")
    p.add_argument("--top", type=int, default=15, help="executions to list")
    args = p.parse_args(argv)
    base = load_conf("local")
    data = Path(args.dir) / f"generated-{args.customers}"
    generated = relocated(base, str(data))
    if not Path(generated.path("paths.landing")).exists():
        from jobs.generate_data import main as generate

        generate(["--env", base.env, "--customers", str(args.customers),
                  "--out", generated.path("paths.landing"),
                  "--truth", generated.path("paths.ground_truth"), "--quiet", "--workers", "2"])
    root = Path(args.dir) / f"run-{args.tag}"
    shutil.rmtree(root, ignore_errors=True)
    events_dir = root / "eventlog"
    events_dir.mkdir(parents=True)
    conf = relocated(base, str(root / "var"))
    settings = {**conf.to_dict()["spark"]["settings"],
                "spark.eventLog.enabled": "true", "spark.eventLog.compress": "false",
                "spark.eventLog.dir": events_dir.as_uri()}
    conf = overridden(conf, {"paths.landing": generated.path("paths.landing"),
                             "spark.settings": settings})
    spark = get_spark(conf, "profilake-profile-ingest")
    started = time.perf_counter()
    report = run_ingest(spark, conf, list(SOURCES), NOW, echo=lambda _m: None)
    print(json.dumps({"total_s": round(time.perf_counter() - started, 1),
                      "stages_s": report.seconds, "records": sum(report.records.values()),
                      "profiles": report.profiles, "lakehouse": str(root / "var")}), flush=True)
    spark.stop()
    for line in longest_executions(events_dir, args.top):
        print(line)


def longest_executions(events_dir: Path, top: int) -> list[str]:
    """The ``top`` longest root SQL executions: seconds, id, Spark's description of the call."""
    runs = read_root_executions(events_dir)
    took = {i: (r["end"] - r["start"]) / 1000 for i, r in runs.items() if "end" in r}
    lines = [f"{len(took)} root executions, {sum(took.values()):.1f} s running"]
    for i in sorted(took, key=took.get, reverse=True)[:top]:
        lines.append(f"{took[i]:7.1f} s  #{i:<5} {runs[i]['description'][:70]}")
    return lines


if __name__ == "__main__":
    main()
