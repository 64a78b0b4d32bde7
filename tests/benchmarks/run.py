"""Run the benchmarks, print a table and write the figures to ``paths.bench_results``:
``latest.json``, a timestamped copy, and one line appended to ``history.jsonl``; then print
each figure's change against the previous run of the same scale (tests/benchmarks/history.py).

Usage: ``python -m tests.benchmarks.run [--only NAME ...] [--env ENV] [--scale small|full]``.
Each benchmark module exposes ``run(ctx) -> list[dict]``; a row has at least ``name`` plus
any figures (seconds, rows_per_s, events_per_s, peak_rss_mb, …). Each runs on a scratch
lakehouse of its own. A benchmark that raises leaves a ``failed`` row with the error; the
others still run, the figures are written, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.config import PROJECT_DIR, Conf, load_conf, relocated
from tests.benchmarks import history

BENCHMARKS = [
    "bench_spark",
    "bench_gate",
    "bench_producer",
    "bench_ingest",
    "bench_identity_tiers",
    "bench_dedupe",
    "bench_stream",
    "bench_stream_restart",
    "bench_probable_refresh",
    "bench_api",
    "bench_hot",
    "bench_nightly",
    "bench_redis_memory",
]


@dataclass
class BenchContext:
    conf: Conf  # the environment's conf (services, ports)
    workdir: Path  # a scratch lakehouse for this run
    scale: str  # small (CI-sized) or full (the sizes)
    results_dir: Path | None = None  # paths.bench_results: what must outlive the run (logs)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if value < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def print_table(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        figures = "  ".join(f"{k}={_fmt(v)}" for k, v in row.items() if k != "name")
        print(f"  {row['name']:<34} {figures}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--env", default=None)
    parser.add_argument("--scale", choices=["small", "full"], default="small")
    args = parser.parse_args(argv)
    conf = load_conf(args.env)
    names = args.only or BENCHMARKS
    results: list[dict[str, Any]] = []
    started = time.time()
    out_dir = Path(conf.path("paths.bench_results"))
    out_dir.mkdir(parents=True, exist_ok=True)
    failed: list[str] = []
    with tempfile.TemporaryDirectory(prefix="profilake-bench-") as tmp:
        for name in names:
            # Each benchmark on a lakehouse of its own: one's tables never size another's.
            root = Path(tmp) / name
            ctx = BenchContext(relocated(conf, str(root)), root, args.scale, out_dir)
            print(f"» {name} …", flush=True)
            try:
                rows = importlib.import_module(f"tests.benchmarks.{name}").run(ctx)
            except Exception as exc:  # noqa: BLE001 — recorded; the other benchmarks still run
                traceback.print_exc()
                failed.append(name)
                rows = [{"name": name, "failed": f"{type(exc).__name__}: {exc}"[:300]}]
            print_table(rows)
            results.extend(rows)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    document = {
        "when": stamp,
        "commit": history.commit(PROJECT_DIR),
        "env": conf.env,
        "scale": args.scale,
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": __import__("os").cpu_count(),
        },
        "seconds_total": round(time.time() - started, 1),
        "results": results,
    }
    for target in (out_dir / f"results-{stamp}.json", out_dir / "latest.json"):
        target.write_text(json.dumps(document, indent=1, default=str))
    log = out_dir / history.HISTORY_FILE
    history.print_changes(history.changes(document, history.read(log)))
    history.append(log, document)
    print(f"\nwrote {out_dir / 'latest.json'}; appended to {log}")
    if failed:
        print(f"failed: {', '.join(failed)} (their tracebacks are above)", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
