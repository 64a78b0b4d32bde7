"""Producer throughput to the local broker: ``bench.producer_events`` events at max rate.

The run uses the conf's messiness shares and population size, so it measures what the demo
feed costs, and writes to a throw-away topic (same partition count as the events topic) so the
streaming job's topic never sees benchmark traffic. The broker is started if needed and left
as found.
"""

from __future__ import annotations

import uuid
from typing import Any

from pipelines.config import Conf
from pipelines.events.producer import (
    ProduceReport,
    produce,
    settings_from_conf,
    synthetic_population,
)


def run(ctx) -> list[dict[str, Any]]:
    from pipelines.services import kafka

    conf = ctx.conf
    was_running = kafka.status(conf)["running"]
    kafka.start(conf)
    try:
        fastest = _produce_to_scratch_topic(
            conf, rate=0, count=int(conf.get("bench.producer_events"))
        )
        paced = _produce_to_scratch_topic(conf, rate=1000, count=10_000)
    finally:
        if not was_running:
            kafka.stop(conf)
    for report in (fastest, paced):
        if report.errors:
            raise RuntimeError(f"{report.errors} delivery errors: {report.error_samples}")
    return [
        {
            "name": "producer_throughput",
            "events": fastest.sent,
            "seconds": round(fastest.seconds, 3),
            "events_per_s": round(fastest.rate, 1),
        },
        {
            "name": "producer_paced_1000_eps",
            "events": paced.sent,
            "seconds": round(paced.seconds, 3),
            "events_per_s": round(paced.rate, 1),
        },
    ]


def _produce_to_scratch_topic(conf: Conf, rate: float, count: int) -> ProduceReport:
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    topic = f"profilake.bench.{uuid.uuid4().hex[:8]}"
    partitions = int(conf.get("kafka.topics.events.partitions"))
    admin = KafkaAdminClient(
        bootstrap_servers=str(conf.get("kafka.bootstrap_servers")), client_id="profilake-bench"
    )
    try:
        admin.create_topics([NewTopic(name=topic, num_partitions=partitions, replication_factor=1)])
        try:
            settings = settings_from_conf(conf, topic=topic, rate=rate, count=count)
            people = synthetic_population(int(conf.get("generator.customers")), settings.seed)
            return produce(settings, people)
        finally:
            admin.delete_topics([topic])
    finally:
        admin.close()
