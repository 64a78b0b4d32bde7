"""Kafka broker restarts under running jobs (the fault suite, docs/operations.md)."""

from __future__ import annotations

import contextlib
import threading
import time

from pipelines.config import Conf
from pipelines.services import kafka


def restart_broker(conf: Conf, times: int, sending: threading.Lock | None = None,
                   down_s: float = 2.0) -> None:
    """Stop the test broker (SIGTERM, as a rolling restart does), leave it down ``down_s`` —
    long enough for clients' requests to fail — and start it again, ``times`` times; returns
    once the last start accepts requests. Topics and their data survive (same data dir).

    ``sending``: the lock a test's producer thread holds while it sends a chunk; held here
    for the restarts, so no message is in flight across them. kafka-python's idempotent
    producer could stall for good in ``flush`` after repeated restarts (seen here: ten
    restarts, the flush still waiting 18 minutes later), and the jobs under test, not the test's
    input generator, are what these restarts are for."""
    with sending or contextlib.nullcontext():
        for _ in range(times):
            kafka.stop(conf)
            assert not kafka.status(conf)["running"], "the broker did not stop"
            time.sleep(down_s)
            kafka.start(conf)
