"""Where a warm micro-batch's time goes: ``process_batch`` in this process, the Spark event log
on, then the root SQL executions of one batch with their durations and the time between them.

Not a benchmark (``make bench`` measures the job as its own process): a profiler for issue 12's
"profile before changing". The session is the stream's own (``stream_conf``: its shuffle
partitions, AQE off), the lakehouse a scratch one, seeded with one batch of
``--seed-records`` generated records; then ``--batches`` batches of ``--batch-records`` records
(one by default). Each batch is
compiled or interpreted by the stream's own rule (``streaming.interpreted_max_records``). The
chatbot hop needs Redis (``make services-up``); without it, ``--no-chatbot``. The probable
refresher is not started (it runs beside the batches, not in them). docs/performance.md,
"Where a warm one-record batch goes now", came from this.

    python -m tests.benchmarks.profile_batch --customers 5000 --seed-records 20000 --batches 8
    python -m tests.benchmarks.profile_batch --batches 1 --batch-records 100000 \
        --set identity.local_max_records=20000     # a large batch, identity on Spark
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from pipelines.config import Conf, flag_values, load_conf, overridden, relocated
from pipelines.events.producer import EventStream, Shares, synthetic_population
from pipelines.session import get_spark
from pipelines.stream.microbatch import StreamContext, _choose_codegen, process_batch
from pipelines.stream.settings import stream_conf
from tests.benchmarks.eventlog import read_root_executions

KAFKA_ROW = ("key binary, value binary, topic string, partition int, offset long, "
             "timestamp timestamp")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--customers", type=int, default=5000)
    p.add_argument("--seed-records", type=int, default=20000)
    p.add_argument("--batches", type=int, default=8)
    p.add_argument("--batch-records", type=int, default=1,
                   help="records in each batch after the seed")
    p.add_argument("--show", type=int, default=0, help="batch to list (default: the last)")
    p.add_argument("--no-chatbot", action="store_true")
    p.add_argument("--dir", help="scratch directory (default: a new temporary one)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a setting for this run, as profilake-hot --set takes it, "
                        "e.g. identity.local_max_records=0")
    args = p.parse_args(argv)
    root = Path(args.dir or tempfile.mkdtemp(prefix="profilake-profile-"))
    events_dir = root / "eventlog"
    events_dir.mkdir(parents=True, exist_ok=True)
    conf = stream_conf(relocated(load_conf("local"), str(root / "var")))
    settings = {**conf.to_dict()["spark"]["settings"],
                "spark.eventLog.enabled": "true", "spark.eventLog.compress": "false",
                "spark.eventLog.dir": events_dir.as_uri()}
    conf = overridden(conf, {"spark.settings": settings, "cache.prefix": "profile-batch",
                             "streaming.chatbot_sync": not args.no_chatbot,
                             **flag_values(conf, args.set)})
    spark = get_spark(conf, "profilake-profile-batch")
    ctx = batches_alone(conf)
    records = kafka_records(args.customers)
    marks: list[float] = []
    for batch_id, size in enumerate([args.seed_records] + [args.batch_records] * args.batches):
        rows = [next(records) for _ in range(size)]
        # The stream's own rule (no checkpoint here to size the batch from): the seed batch
        # compiles; small batches run interpreted.
        _choose_codegen(spark, ctx, size)
        marks.append(time.time() * 1000)
        started = time.perf_counter()
        metrics = process_batch(spark.createDataFrame(rows, KAFKA_ROW), batch_id, ctx)
        print(json.dumps({"batch": batch_id, "records": size,
                          "s": round(time.perf_counter() - started, 2),
                          "steps": metrics["step_s"]}), flush=True)
    marks.append(time.time() * 1000)
    spark.stop()
    show = args.show or args.batches
    for line in root_executions(events_dir, marks[show], marks[show + 1]):
        print(line)


def kafka_records(customers: int) -> Iterator[tuple]:
    """Kafka source rows (``KAFKA_ROW``) of the generator's messages for ``customers``
    customers, offsets from 0 over four partitions: the same sequence on every call."""
    messages = EventStream(synthetic_population(customers, seed=3), Shares(), 3600, seed=3)
    for offset, m in enumerate(messages):
        yield (m.key, m.value, "profilake.events", offset % 4, offset, datetime.now(UTC))


def batches_alone(conf: Conf) -> StreamContext:
    """The stream's context without the probable refresher and the writers' lock: the
    batches alone, as a profiler wants them."""
    ctx = StreamContext.from_conf(conf)
    ctx.probable, ctx.lock = None, None
    return ctx


def root_executions(events_dir: Path, start_ms: float, end_ms: float) -> list[str]:
    """The root SQL executions that began in [start_ms, end_ms): offset from the start,
    duration, the idle time before it, the top of its physical plan; then the totals."""
    starts = read_root_executions(events_dir)
    chosen = sorted((e for e in starts.values() if start_ms <= e["start"] < end_ms),
                    key=lambda e: e["start"])
    lines, busy, idle, last = [], 0.0, 0.0, start_ms
    for e in chosen:
        took = (e.get("end", e["start"]) - e["start"]) / 1000
        gap = max(0.0, (e["start"] - last) / 1000)
        busy, idle, last = busy + took, idle + gap, max(last, e.get("end", e["start"]))
        lines.append(f"{(e['start'] - start_ms) / 1000:7.2f} s  +{took:5.2f} s  "
                     f"(after {gap:4.2f} s idle)  {' '.join(e['plan']).strip()[:70]}")
    lines.append(f"{len(chosen)} root executions: {busy:.1f} s running, {idle:.1f} s between, "
                 f"window {(end_ms - start_ms) / 1000:.1f} s")
    return lines


if __name__ == "__main__":
    main()
