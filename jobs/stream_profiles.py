"""Real-time profiles from Kafka, exactly once (docs/streaming.md).

    profilake-stream --env local                      # runs until stopped
    profilake-stream --available-now                  # what Kafka holds now, then exit
    python -m jobs.stream_profiles --env test --root /tmp/lh --topic t1 --max-batches 3

On a cluster (master, packages and resources belong to spark-submit):

    spark-submit <master, connectors, --py-files: docs/deploy.md> \\
        jobs/stream_profiles.py --env cluster

Prints one JSON line per micro-batch on stdout as it starts (``{"batch_started": id}``) and
one when it is done (its metrics row), and one per probable-tier refresh, which runs beside
the batches (``{"probable_refresh": {started_at, finished_at, seconds, whole, links,
profiles, changed}}``). SIGINT (Ctrl-C) or SIGTERM lets the running micro-batch
finish, then stops with a one-line summary on stderr. Exit 0 when stopped by a signal,
--available-now, --max-batches or --timeout; 1 when the query failed.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time

from pyspark.errors import StreamingQueryException

from pipelines.config import load_conf, relocated
from pipelines.gate.validate import preload as preload_gate
from pipelines.session import get_spark
from pipelines.storage_errors import storage_failure
from pipelines.stream.probable_sync import ProbableRefreshFailed
from pipelines.stream.runner import start_profile_stream
from pipelines.stream.settings import StreamSettings, stream_conf


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="profilake-stream", description=__doc__.split("\n")[0])
    p.add_argument("--env", help="config environment (default: PROFILAKE_ENV or local)")
    p.add_argument("--root", help="override paths.root (and every path under it)")
    p.add_argument("--topic", action="append", help="topic to read (default: streaming.topics)")
    p.add_argument("--bootstrap", help="default: kafka.bootstrap_servers")
    p.add_argument("--query-name", help="default: streaming.query_name (also the txnAppId)")
    p.add_argument("--trigger", help="processing-time trigger, e.g. '2 seconds'")
    p.add_argument("--max-offsets", type=int, help="default: streaming.max_offsets_per_trigger")
    p.add_argument(
        "--available-now",
        "--once",
        action="store_true",
        help="process what Kafka holds now, then stop",
    )
    p.add_argument("--max-batches", type=int, help="stop after this many micro-batches")
    p.add_argument("--timeout", type=float, help="stop after this many seconds")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    conf = stream_conf(load_conf(args.env))
    if args.root:
        conf = relocated(conf, args.root)
    settings = StreamSettings.from_conf(conf).with_overrides(
        topics=tuple(args.topic) if args.topic else None,
        bootstrap_servers=args.bootstrap,
        query_name=args.query_name,
        trigger_interval=args.trigger,
        max_offsets_per_trigger=args.max_offsets,
    )
    done = threading.Event()
    stopped_by: list[str] = []

    def on_signal(signum: int, _frame) -> None:
        stopped_by.append(signal.Signals(signum).name)
        done.set()

    def stop_on_signals() -> None:
        # SIGINT (Ctrl-C) and SIGTERM (a scheduler, a container runtime): stop between
        # batches. Again once the session exists: PySpark's own SIGINT handler cancels the
        # running jobs.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, on_signal)

    stop_on_signals()
    preload_gate()  # while the JVM starts: the first micro-batch then finds GX imported
    spark = get_spark(conf, "profilake-stream")
    stop_on_signals()
    batches, records, new_events = 0, 0, 0

    def on_batch(metrics: dict) -> None:
        nonlocal batches, records, new_events
        batches += 1
        records += int(metrics.get("input_rows") or 0)
        new_events += int(metrics.get("new_events") or 0)
        print(json.dumps(metrics, default=str), flush=True)
        if args.max_batches and batches >= args.max_batches:
            done.set()

    def on_batch_start(batch_id: int) -> None:
        print(json.dumps({"batch_started": batch_id}), flush=True)

    stream = start_profile_stream(
        spark,
        conf,
        settings=settings,
        available_now=args.available_now,
        on_batch=on_batch,
        on_batch_start=on_batch_start,
        on_refresh=lambda report: print(
            json.dumps({"probable_refresh": report}, default=str), flush=True),
    )
    query = stream.query
    deadline = time.monotonic() + args.timeout if args.timeout else None
    while query.isActive and not done.is_set():
        try:
            query.awaitTermination(0.5)
        except StreamingQueryException:  # the query failed: reported below, once
            break
        if deadline is not None and time.monotonic() > deadline:
            break
    failure: BaseException | None = None
    try:
        # A run that drained a backlog (--available-now) leaves the probable tier current.
        stream.stop(flush=args.available_now)
    except ProbableRefreshFailed as e:
        failure = e
    failure = query.exception() or failure
    if failure is not None:
        # One line that says what went wrong (a storage problem by name); the full error
        # follows for the record.
        text = str(failure)
        first = (text.splitlines() or [type(failure).__name__])[0]
        print(f"stream failed: {storage_failure(text) or first}", file=sys.stderr)
        print(f"details: {text}", file=sys.stderr, flush=True)
        return 1
    why = f" on {stopped_by[0]}" if stopped_by else ""
    print(f"stream stopped{why}: {batches} micro-batches, {records} records read, "
          f"{new_events} new events", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
