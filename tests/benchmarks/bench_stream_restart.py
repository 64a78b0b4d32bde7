"""The Delta lane's fixed cost: a one-record micro-batch once warm, and the first micro-batch
after a restart (issue 12, item 3: ≤ 5 s, and within 2× of a warm batch).

The stream job runs as its own process (``python -m jobs.stream_profiles``, the bench's env,
processing-time trigger) on a scratch lakehouse seeded with ``profiles`` customers through
the job itself. Then, one record at a time — a page view of a known customer, the next sent
once the job reported the batch before —: ``warm`` one-record batches. The job is stopped
with SIGTERM, one more record is sent, and a new process starts: its first batch holds that
record. Figures come from the job's own metrics lines (``processing_s``, ``step_s``,
``probable_refresh``) and the bench's clock (process start → that batch begins / is
reported).
"""

from __future__ import annotations

import random
import signal
import statistics
import time
from pathlib import Path
from typing import Any

from pipelines.events.envelope import build_envelope, serialize
from pipelines.events.producer import synthetic_population
from pipelines.stream.settings import stream_conf
from tests.benchmarks.bench_stream import _top_steps, new_topic, send_seed
from tests.stream_process import StreamProcess

SCALES = {"small": (5_000, 6), "full": (100_000, 6)}  # profiles, warm one-record batches
QUERY = "bench_restart"
TRIGGER = "1 second"
TIMEOUT_S = 1800.0


def _send_one(producer, topic: str, person, rng: random.Random) -> None:
    env = build_envelope("page_view", person, rng, time.time())
    producer.send(topic, serialize(env), person.key.encode())
    producer.flush()


def _until(job: StreamProcess, what: str, done, log: Path) -> float:
    """Poll ``done()`` every 20 ms; the monotonic time it became true."""
    deadline = time.monotonic() + TIMEOUT_S
    while not done():
        if job.proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the stream job never {what}; see {log}")
        time.sleep(0.02)
    return time.monotonic()


def run(ctx) -> list[dict[str, Any]]:
    from kafka import KafkaProducer

    from pipelines.services import kafka

    n_profiles, n_warm = SCALES[ctx.scale]
    conf = stream_conf(ctx.conf)
    was_running = kafka.status(conf)["running"]
    kafka.start(conf)
    log = Path(ctx.results_dir or ctx.workdir) / "restart-stream.log"
    people = synthetic_population(n_profiles, int(conf.get("generator.seed")))
    topic = new_topic(conf, "restart")
    seeded = send_seed(conf, topic, people)
    producer = KafkaProducer(bootstrap_servers=str(conf.get("kafka.bootstrap_servers")), acks=1)
    rng = random.Random(3)
    job = StreamProcess.start(ctx.workdir, topic, log, query=QUERY, trigger=TRIGGER,
                              conf_env=conf.env)
    try:
        _until(job, "folded the seed", lambda: sum(b["input_rows"] for b in job.batches)
               >= seeded, log)
        warm = []
        for _ in range(n_warm):
            seen = len(job.batches)
            _send_one(producer, topic, people[rng.randrange(n_profiles)], rng)
            _until(job, "reported a batch", lambda n=seen: len(job.batches) > n, log)
            warm.extend(b for b in job.batches[seen:] if b["input_rows"])
        job.proc.send_signal(signal.SIGTERM)
        if job.wait_exit(timeout=600) != 0:
            raise RuntimeError(f"the stream job did not stop cleanly; see {log}")
        refreshes = list(job.refreshes)  # beside the seed's and the warm batches

        _send_one(producer, topic, people[rng.randrange(n_profiles)], rng)
        started = time.monotonic()
        job = StreamProcess.start(ctx.workdir, topic, log, query=QUERY, trigger=TRIGGER,
                                  conf_env=conf.env)
        began = _until(job, "began a batch", lambda: bool(job.started), log)
        reported = _until(job, "reported a batch", lambda: bool(job.batches), log)
        first = job.batches[0]
        job.proc.send_signal(signal.SIGTERM)
        if job.wait_exit(timeout=600) != 0:
            raise RuntimeError(f"the restarted stream job did not stop cleanly; see {log}")
    finally:
        producer.close()
        if job.proc.poll() is None:
            job.kill()
        if not was_running:
            kafka.stop(conf)

    times = sorted(b["processing_s"] for b in warm)
    p50 = statistics.median(times)
    median_batch = sorted(warm, key=lambda b: b["processing_s"])[len(warm) // 2]
    return [
        {"name": "stream_one_record_batch_warm", "profiles": n_profiles, "batches": len(warm),
         "p50_s": round(p50, 2), "max_s": round(times[-1], 2), "bar_s": 5.0,
         "slowest_steps": _top_steps([median_batch]),
         # The probable refresher runs beside the batches (docs/streaming.md).
         "probable_refreshes": len(refreshes),
         "probable_refresh_s": [round(r["seconds"], 1) for r in refreshes]},
        {"name": "stream_first_batch_after_restart", "profiles": n_profiles,
         "records": first["input_rows"], "batch_s": round(first["processing_s"], 2),
         "vs_warm_p50": round(first["processing_s"] / p50, 2), "bar_vs_warm": 2.0,
         "start_to_batch_s": round(began - started, 1),
         "start_to_reported_s": round(reported - started, 1),
         "slowest_steps": _top_steps([first])},
    ]
