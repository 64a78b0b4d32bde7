"""Kafka broker restarts under running jobs (the fault suite, docs/operations.md), and the
producer thread the tests feed them with."""

from __future__ import annotations

import contextlib
import threading
import time

from pipelines.config import Conf
from pipelines.events.producer import Message, ProducerError, produce, settings_from_conf
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


class ChunkedProducer(threading.Thread):
    """A test's event source: ``produce`` runs of ``seconds`` each (the producer rounds its
    messiness shares per run, so tiny runs would never hold a malformed message) until
    ``stop``; each run holds ``sending`` (see ``restart_broker``); a run that finds no broker
    is tried again. ``sent`` and ``reports`` collect what was handed over and each run's
    report."""

    def __init__(self, conf: Conf, topic: str, population, *, rate: float, seconds: float,
                 seed: int) -> None:
        super().__init__(daemon=True)
        self.conf, self.topic, self.population = conf, topic, population
        self.rate, self.seconds, self.seed = rate, seconds, seed
        self.sent: list[Message] = []
        self.reports: list = []
        self.stop, self.sending = threading.Event(), threading.Lock()

    def run(self) -> None:
        chunk = 0
        while not self.stop.is_set():
            settings = settings_from_conf(
                self.conf, topic=self.topic, rate=self.rate, count=int(self.rate * self.seconds),
                late_share=0.1, duplicate_share=0.05, malformed_share=0.03,
                seed=self.seed * 1000 + chunk)
            chunk += 1
            with self.sending:
                try:
                    self.reports.append(produce(settings, self.population,
                                                on_message=self.sent.append))
                except ProducerError:  # no broker to connect to: try again
                    time.sleep(1.0)
            time.sleep(0.2)  # outside the lock: a waiting restart gets its turn

    def finish(self) -> None:
        """Stop after the running chunk."""
        self.stop.set()
        self.join()

    def failed_deliveries(self) -> list:
        """Error samples of every run that lost a message (none expected)."""
        return [r.error_samples for r in self.reports if r.errors]
