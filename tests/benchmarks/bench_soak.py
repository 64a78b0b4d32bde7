"""Long run: does a micro-batch get slower as the stream runs for an hour beside table
maintenance? (issue 13: "a long-run benchmark (stream for 1 hour) shows no slowdown per batch").

The stream job and ``profilake-maintain`` run as their own processes on a scratch lakehouse, the
way a scheduler runs them: the stream with its processing-time trigger, fed by a paced sender
at ``rate`` events/s (event_time = send time) for ``minutes``; maintenance starts every
``maintain_every`` minutes while the stream runs (compressed from the daily schedule: an hour
of batches grows the small files and log versions a day of a quieter stream would). Before
that, the stream itself folds one CRM update and one logged-in visit per customer: the
profiles the paced events update.

Rows:
- ``stream_soak``: batches and events of the paced part; for the first and the last full
  window, the cost per event (processing seconds over events) and the median batch time, both
  counting only batches that ran while no maintenance process did (one shares the 2 cores),
  and the ratio of the costs per event (``summarize``); the least-squares trend of those
  batches' time over the run (s per hour); the slowdown figure, ``quiet_fit_drift_s_per_hour``,
  from the fit of those batches' time to a fixed cost, a cost per event, the probable refresh
  running beside the batch and a drift (``batch_fit``), with the other three terms; the
  trend of the probable refresh's own time (the job's ``probable_refresh`` lines); the
  median of the batches beside maintenance; every maintenance run's
  start, seconds and exit code (1 = a table failed, e.g. a conflict that outlasted its
  retries);
- ``stream_soak_window_<i>``: per window, batches, events, median (all and quiet), cost per
  event, the median of the batches' lag p99, p90, max and the mean of the slowest steps;
- ``stream_soak_files_<table>``: the live files before → after each maintenance run, from the
  ``table_health`` rows it wrote, and the table's last version.

The raw metrics of every batch and the maintenance runs are kept in ``soak-batches.json``
beside the job logs (``paths.bench_results``).
``make bench BENCH_ARGS="--only bench_soak --scale full"`` is the hour; ``small`` is 10 minutes.
Not in the default list: it is a soak, not a figure to re-measure every day.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.catalog import Catalog
from pipelines.config import PROJECT_DIR, ROOT_ENV, Conf
from pipelines.events.producer import synthetic_population
from pipelines.stream.settings import stream_conf
from tests.benchmarks.bench_stream import new_topic, paced_sender, send_seed
from tests.stream_process import StreamProcess

SCALES = {
    # profiles, events/s, minutes, maintenance every (minutes), window (minutes)
    "small": (5_000, 100, 10, 4, 2),
    # 100, not 200 events/s: a batch's size depends less on how long the last one took, so
    # a maintenance run's delay fades within a batch or two and a trend in batch time is the
    # lane's own (docs/performance.md, "An hour beside maintenance").
    "full": (20_000, 100, 60, 20, 10),
}
QUERY = "bench_soak"
TRIGGER = "5 seconds"
SEED_TIMEOUT_S = 1_800
FILE_TABLES = ("profiles", "events", "identity_links", "stream_metrics", "chatbot_export")


def _maintain(conf: Conf, root: Path, log: Path) -> dict[str, Any]:
    """One ``profilake-maintain`` run as its own process on the scratch lakehouse."""
    env = {**os.environ, ROOT_ENV: str(root), "TZ": "UTC"}
    started = datetime.now(UTC)
    with open(log, "ab") as out:
        code = subprocess.call([sys.executable, "-m", "jobs.maintain_tables", "--env", conf.env],
                               cwd=PROJECT_DIR, env=env, stdout=out, stderr=out)
    return {"started": started, "ended": datetime.now(UTC), "exit": code}


def _maintenance_loop(conf: Conf, root: Path, log: Path, every_s: float, until: float,
                      runs: list[dict[str, Any]], t0: float) -> None:
    """A run every ``every_s`` from ``t0`` (a run still going when the next is due delays it)."""
    while (due := t0 + every_s * (len(runs) + 1)) < until:
        time.sleep(max(0.0, due - time.monotonic()))
        runs.append(_maintain(conf, root, log))


def trend_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds since start, processing seconds), in s per hour."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    sxy = sum((x - mx) * (y - my) for x, y in points)
    return 3600.0 * sxy / sxx if sxx else 0.0


def batch_fit(points: list[tuple[float, float, bool, float]]
              ) -> tuple[float, float, float, float]:
    """Least squares of seconds = fixed + per_event x events + refresh x [a probable refresh
    ran beside the batch] + drift x hours, over (seconds since start, events, refresh ran,
    processing seconds): (fixed s, ms per event, refresh s, drift s per hour).

    The drift is the slowdown per batch with batch size and the periodic refresh (every
    ``probable_refresh_s``, beside some batches only: it shares the cores) held apart: a
    lane that does the same work per event and per batch all hour fits a drift near 0,
    whatever its batch sizes."""
    import numpy as np

    a = np.array([[1.0, e, float(r), t / 3600.0] for t, e, r, _ in points])
    y = np.array([s for *_, s in points])
    (fixed, per_event, refresh, drift), *_ = np.linalg.lstsq(a, y, rcond=None)
    return float(fixed), 1000.0 * float(per_event), float(refresh), float(drift)


def _refreshed(b: dict, refreshes: list[dict]) -> bool:
    """Did a probable refresh run while the batch did?"""
    return any(_when(b, "started_at") < _when(r, "finished_at")
               and _when(b, "finished_at") > _when(r, "started_at") for r in refreshes)


def _when(b: dict, key: str) -> datetime:
    return datetime.fromisoformat(b[key])


def _overlaps(b: dict, runs: list[dict[str, Any]]) -> bool:
    """Did the batch run while a maintenance process did (the two share the machine's cores)?"""
    return any(_when(b, "started_at") < r["ended"] and _when(b, "finished_at") > r["started"]
               for r in runs)


def _median(batches: list[dict]) -> float | None:
    return round(statistics.median(b["processing_s"] for b in batches), 2) if batches else None


def _window_row(i: int, batches: list[dict], runs: list[dict[str, Any]]) -> dict[str, Any]:
    times = sorted(b["processing_s"] for b in batches)
    steps: dict[str, float] = {}
    for b in batches:
        for step, s in (b.get("step_s") or {}).items():
            steps[step] = steps.get(step, 0.0) + s
    top = sorted(steps.items(), key=lambda kv: -kv[1])[:4]
    quiet = [b for b in batches if not _overlaps(b, runs)]
    return {"name": f"stream_soak_window_{i}", "batches": len(batches),
            "events": sum(b["input_rows"] for b in batches),
            "median_s": round(statistics.median(times), 2),
            "beside_maintenance": len(batches) - len(quiet),
            "quiet_median_s": _median(quiet),
            "quiet_ms_per_event": _ms_per_event(quiet),
            "lag_p99_median_s": round(statistics.median(b["lag_p99_s"] or 0.0 for b in batches),
                                      1),
            "p90_s": round(times[int(0.9 * (len(times) - 1))], 2), "max_s": round(times[-1], 2),
            "steps": ", ".join(f"{k} {v / len(batches):.2f}s" for k, v in top)}


def _file_rows(conf: Conf) -> list[dict[str, Any]]:
    from pyspark.sql import functions as F

    from pipelines.session import get_spark

    spark = get_spark(conf, "bench-soak-report")
    health = (spark.read.format("delta").load(Catalog(conf).path("table_health"))
              .where(F.col("table_name").isin(*FILE_TABLES))
              .orderBy("measured_at").collect())
    rows = []
    for table in FILE_TABLES:
        runs = [h for h in health if h["table_name"] == table]
        if runs:
            rows.append({"name": f"stream_soak_files_{table}",
                         "before_after": " ".join(f"{h['files_before']}→{h['files']}"
                                                  for h in runs),
                         "versions": runs[-1]["version"]})
    return rows


def run(ctx) -> list[dict[str, Any]]:
    from pipelines.services import kafka

    n_profiles, rate, minutes, every_min, window_min = SCALES[ctx.scale]
    conf = stream_conf(ctx.conf)
    was_running = kafka.status(conf)["running"]
    kafka.start(conf)
    logs = Path(ctx.results_dir or ctx.workdir)
    stream_log, maintain_log = logs / "soak-stream.log", logs / "soak-maintain.log"
    people = synthetic_population(n_profiles, int(conf.get("generator.seed")))
    topic = new_topic(conf, "soak")
    seeded = send_seed(conf, topic, people)
    job = StreamProcess.start(ctx.workdir, topic, stream_log, query=QUERY, trigger=TRIGGER,
                              conf_env=conf.env)
    try:
        deadline = time.monotonic() + SEED_TIMEOUT_S
        while sum(b["input_rows"] for b in job.batches) < seeded:
            if job.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the stream did not fold the seed; see {stream_log}")
            time.sleep(1.0)
        seed_batches = len(job.batches)

        t0 = time.monotonic()
        until = t0 + minutes * 60
        runs: list[dict[str, Any]] = []
        maintenance = threading.Thread(target=_maintenance_loop, args=(
            conf, ctx.workdir, maintain_log, every_min * 60, until, runs, t0))
        maintenance.start()
        sent: list[str] = []
        paced_sender(conf, topic, people, rate, minutes * 60, sent)
        maintenance.join()
        job.proc.send_signal(signal.SIGTERM)  # stops between batches (issue 13, clean stop)
        code = job.wait_exit(timeout=600)
    finally:
        if job.proc.poll() is None:
            job.kill()
        if not was_running:
            kafka.stop(conf)
    if code != 0:
        raise RuntimeError(f"the stream exited {code}; see {stream_log}")

    # Kept beside the logs: the hour's raw figures outlive a change to the summary below.
    raw = {"params": {"minutes": minutes, "profiles": n_profiles, "rate_eps": rate,
                      "window_min": window_min},
           "seed_batches": seed_batches, "batches": job.batches, "refreshes": job.refreshes,
           "maintenance": runs}
    (logs / "soak-batches.json").write_text(json.dumps(raw, default=str))
    return [*summarize(json.loads(json.dumps(raw, default=str))), *_file_rows(ctx.conf)]


def _ms_per_event(batches: list[dict]) -> float | None:
    events = sum(b["input_rows"] for b in batches)
    return round(1000 * sum(b["processing_s"] for b in batches) / events, 2) if events else None


def summarize(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """The summary and window rows from the raw figures (``soak-batches.json``).

    A batch's time is reported twice: as it was, and per event. The second is the slowdown
    figure: a lane that falls behind (its offered rate near its capacity, or maintenance
    sharing the cores) reads larger batches, which take longer without any table getting
    slower."""
    params = raw["params"]
    runs = [{**r, "started": datetime.fromisoformat(r["started"]),
             "ended": datetime.fromisoformat(r["ended"])} for r in raw["maintenance"]]
    paced = [b for b in raw["batches"][raw["seed_batches"]:] if b["input_rows"]]
    start_at = min(_when(b, "started_at") for b in paced)
    refreshes = raw.get("refreshes", [])

    def offset(b: dict) -> float:
        return (_when(b, "started_at") - start_at).total_seconds()

    windows: dict[int, list[dict]] = {}
    for b in paced:
        windows.setdefault(int(offset(b) // (params["window_min"] * 60)), []).append(b)
    window_rows = [_window_row(i, windows[i], runs) for i in sorted(windows)]
    # The last window is cut short by the sender's end: the last full one is compared.
    full = [r for r in window_rows if r["events"] >= 0.5 * window_rows[0]["events"]]
    quiet = [b for b in paced if not _overlaps(b, runs)]
    first, last = full[0]["quiet_ms_per_event"], full[-1]["quiet_ms_per_event"]
    summary = {
        "name": "stream_soak", **params, "trigger": TRIGGER, "batches": len(paced),
        "events": sum(b["input_rows"] for b in paced),
        # Batches beside a maintenance process share 2 cores with it: reported apart.
        "first_window_quiet_ms_per_event": first, "last_window_quiet_ms_per_event": last,
        "ms_per_event_last_over_first": round(last / first, 2) if first and last else None,
        "first_window_quiet_median_s": full[0]["quiet_median_s"],
        "last_window_quiet_median_s": full[-1]["quiet_median_s"],
        "quiet_trend_s_per_hour": round(trend_per_hour([(offset(b), b["processing_s"])
                                                        for b in quiet]), 2),
        "median_beside_maintenance_s": _median([b for b in paced if _overlaps(b, runs)]),
        **dict(zip(("quiet_fit_fixed_s", "quiet_fit_ms_per_event", "quiet_fit_refresh_s",
                    "quiet_fit_drift_s_per_hour"),
                   (round(v, 2) for v in batch_fit(
                       [(offset(b), b["input_rows"], _refreshed(b, refreshes),
                         b["processing_s"]) for b in quiet])), strict=True)),
        # The one step that used to read the whole growing log (docs/streaming.md).
        "probable_refresh_trend_s_per_hour": round(trend_per_hour(
            [(offset(r), r["seconds"]) for r in refreshes if _when(r, "started_at") >= start_at]
            or [(0.0, 0.0)]), 2),
        "maintenance": " ".join(
            f"@{(r['started'] - start_at).total_seconds() / 60:.0f}min "
            f"{(r['ended'] - r['started']).total_seconds():.0f}s exit {r['exit']}" for r in runs),
    }
    return [summary, *window_rows]


if __name__ == "__main__":  # python -m tests.benchmarks.bench_soak var/bench/soak-batches.json
    from tests.benchmarks.run import print_table

    print_table(summarize(json.loads(Path(sys.argv[1]).read_text())))
