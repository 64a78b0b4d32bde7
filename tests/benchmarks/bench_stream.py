"""Streaming profiles: sustained throughput at max rate and freshness at a steady rate.

Three phases on one scratch lakehouse, each on its own throw-away topic:
1. seed: one profile_updated + one logged-in web visit per customer of a synthetic
   population (100k at full scale), processed by the stream itself in one large batch —
   the existing profiles the next phases update;
2. throughput: ``events`` messages from the producer (conf messiness shares) pre-loaded into
   Kafka, then one availableNow run; events/s = Kafka records / wall seconds of the run. A
   backlog within the stream's cap is taken in one batch (``whole_backlog_cap``);
3. freshness: a sender paced at ``rate`` events/s with event_time = send time while the
   stream runs with its processing-time trigger; per event, lag = the time its profile MERGE
   committed (the event's ``ingested_at``) − event_time; p50 / p99 over every event sent.
Each row also names the micro-batch steps that took the most time (from ``stream_metrics``,
averaged over the row's batches) and, per batch, its records, the profiles it wrote and the
sum of its steps' seconds (``per_batch``).
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from typing import Any

from pyspark.sql import functions as F

from pipelines.catalog import Catalog
from pipelines.config import Conf
from pipelines.events.envelope import build_envelope, serialize
from pipelines.events.producer import produce, settings_from_conf, synthetic_population
from pipelines.session import get_spark
from pipelines.stream.runner import start_profile_stream
from pipelines.stream.settings import StreamSettings, stream_conf

SCALES = {
    # profiles, throughput events, freshness rate (events/s), freshness seconds
    "small": (5_000, 30_000, 1_000, 30),
    "full": (100_000, 200_000, 1_000, 60),
}


def new_topic(conf: Conf, kind: str = "stream") -> str:
    from pipelines.services.kafka import create_topic

    return create_topic(str(conf.get("kafka.bootstrap_servers")),
                        f"profilake.bench.{kind}.{uuid.uuid4().hex[:8]}",
                        partitions=int(conf.get("kafka.topics.events.partitions")))


def send_seed(conf: Conf, topic: str, people) -> int:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=str(conf.get("kafka.bootstrap_servers")),
                             linger_ms=20, batch_size=256 * 1024, acks=1)
    rng = random.Random(1)
    now = time.time() - 3600
    sent = 0
    for c in people:
        crm = build_envelope("profile_updated", c, rng, now)
        web = build_envelope("page_view", c, rng, now)
        web["identifiers"]["customer_id"] = c.customer_id  # logged in: links the web ids
        for env in (crm, web):
            producer.send(topic, serialize(env), c.key.encode())
            sent += 1
    producer.flush()
    producer.close()
    return sent


def paced_sender(conf: Conf, topic: str, people, rate: float, seconds: float,
                 sent_ids: list[str]) -> None:
    """event_time = send time, no late/duplicate/malformed: lag is the pipeline's alone."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=str(conf.get("kafka.bootstrap_servers")),
                             linger_ms=5, acks=1)
    rng = random.Random(2)
    types = ("page_view", "product_view", "add_to_cart", "chat_message", "order_placed")
    start = time.monotonic()
    n = 0
    while (elapsed := time.monotonic() - start) < seconds:
        due = int(elapsed * rate) + 1
        while n < due:
            c = people[rng.randrange(len(people))]
            env = build_envelope(types[n % len(types)], c, rng, time.time())
            producer.send(topic, serialize(env), c.key.encode())
            sent_ids.append(env["event_id"])
            n += 1
        time.sleep(0.005)
    producer.flush()
    producer.close()


def whole_backlog_cap(cap: int, backlog: int, partitions: int) -> int:
    """The micro-batch cap to run a pre-loaded ``backlog`` with: ``cap``, or when the backlog
    fits in it, enough to take the backlog in one batch.

    Why not ``cap`` itself: Spark's Kafka source gives each partition
    ``floor(cap * (its records / backlog))`` records (``KafkaMicroBatchStream.rateLimit``), and
    that share, computed in floating point, can land just under a whole number (49,998.99…):
    a backlog equal to the cap then leaves a record behind for a one-record batch (the
    2026-12-07 throughput run: 199,999 records, then 1 in 115.6 s), a cost no sustained stream
    pays. One record of slack per partition is more than the floor can take."""
    if backlog > cap:
        return cap
    return max(cap, backlog + partitions)


def _run_available_now(spark, conf: Conf, settings: StreamSettings,
                       backlog: int) -> dict[str, Any]:
    """Drain a topic holding ``backlog`` pre-loaded records in one availableNow run, a backlog
    that fits under the settings' cap in one batch (``whole_backlog_cap``)."""
    cap = whole_backlog_cap(settings.max_offsets_per_trigger, backlog,
                            int(conf.get("kafka.topics.events.partitions")))
    settings = settings.with_overrides(max_offsets_per_trigger=cap)
    batches: list[dict] = []
    start = time.perf_counter()
    stream = start_profile_stream(spark, conf, settings=settings, available_now=True,
                                  on_batch=batches.append)
    stream.query.awaitTermination()
    seconds = time.perf_counter() - start
    stream.stop()
    if stream.query.exception() is not None:
        raise RuntimeError(f"stream failed: {stream.query.exception()}")
    rows = sum(b["input_rows"] for b in batches)
    return {"records": rows, "seconds": round(seconds, 2), "batches": len(batches),
            "records_per_s": round(rows / seconds, 1), "batch_metrics": batches,
            "max_offsets_per_trigger": cap}


def _per_batch(batches: list[dict]) -> str:
    """``records/profiles written/steps' seconds`` of each batch, in order."""
    return "; ".join(
        f"{b['input_rows']}/{b['profiles_written']}/{sum((b.get('step_s') or {}).values()):.1f}s"
        for b in batches
    )


def _top_steps(batches: list[dict], k: int = 4) -> str:
    total: dict[str, float] = {}
    for b in batches:
        for step, s in (b.get("step_s") or {}).items():
            total[step] = total.get(step, 0.0) + s
    worst = sorted(total.items(), key=lambda kv: -kv[1])[:k]
    n = max(len(batches), 1)
    return ", ".join(f"{step} {s / n:.1f}s" for step, s in worst)


def run(ctx) -> list[dict]:
    from pipelines.services import kafka

    n_profiles, n_events, rate, seconds = SCALES[ctx.scale]
    conf = stream_conf(ctx.conf)
    was_running = kafka.status(conf)["running"]
    kafka.start(conf)
    spark = get_spark(conf, "bench")
    catalog = Catalog(conf)
    people = synthetic_population(n_profiles, int(conf.get("generator.seed")))
    base = StreamSettings.from_conf(conf)
    rows: list[dict] = []
    try:
        # 1. seed the existing profiles through the stream itself
        seed_topic = new_topic(conf)
        seeded = send_seed(conf, seed_topic, people)
        seed = _run_available_now(spark, conf, base.with_overrides(
            topics=(seed_topic,), query_name="bench_seed", max_offsets_per_trigger=seeded),
            seeded)
        profiles = spark.read.format("delta").load(catalog.path("profiles")).count()
        rows.append({"name": "stream_seed_profiles", "profiles": profiles,
                     "records": seed["records"], "seconds": seed["seconds"],
                     "records_per_s": seed["records_per_s"]})

        # 2. sustained throughput at max rate: pre-load, then drain
        topic = new_topic(conf)
        settings = settings_from_conf(conf, topic=topic, rate=0, count=n_events)
        report = produce(settings, people)
        tput = _run_available_now(spark, conf, base.with_overrides(
            topics=(topic,), query_name="bench_throughput"), report.sent)
        rows.append({"name": "stream_throughput", "profiles": profiles,
                     "events": report.sent, "batches": tput["batches"],
                     "seconds": tput["seconds"], "events_per_s": tput["records_per_s"],
                     "max_offsets_per_trigger": tput["max_offsets_per_trigger"],
                     "slowest_steps": _top_steps(tput["batch_metrics"]),
                     "per_batch": _per_batch(tput["batch_metrics"])})

        # 3. freshness at a steady rate
        fresh_topic = new_topic(conf)
        sent_ids: list[str] = []
        batches: list[dict] = []
        stream = start_profile_stream(spark, conf, settings=base.with_overrides(
            topics=(fresh_topic,), query_name="bench_freshness"), on_batch=batches.append)
        sender = threading.Thread(target=paced_sender, args=(conf, fresh_topic, people, rate,
                                                              seconds, sent_ids))
        sender.start()
        sender.join()
        deadline = time.monotonic() + max(300.0, 10 * seconds)
        # Every record counted, valid or not (the generator's envelopes include some invalid).
        while sum(b["input_rows"] for b in batches) < len(sent_ids):
            if stream.query.exception() is not None or time.monotonic() > deadline:
                break
            time.sleep(1.0)
        stream.stop()
        lags = (
            spark.read.format("delta").load(catalog.path("events"))
            .where(F.col("origin").startswith(fresh_topic + "/"))
            .select(((F.unix_micros("ingested_at") - F.unix_micros("event_time")) / 1e6)
                    .alias("lag"))
            .agg(F.percentile_approx("lag", [0.5, 0.99], 10000).alias("p"),
                 F.max("lag").alias("max"), F.count(F.lit(1)).alias("n"))
            .first()
        )
        rows.append({"name": f"stream_freshness_{rate:g}_eps", "profiles": profiles,
                     "events": len(sent_ids), "visible": lags["n"], "batches": len(batches),
                     "p50_s": round(lags["p"][0], 2) if lags["p"] else None,
                     "p99_s": round(lags["p"][1], 2) if lags["p"] else None,
                     "max_s": round(lags["max"], 2) if lags["max"] is not None else None,
                     "slowest_steps": _top_steps(batches), "per_batch": _per_batch(batches)})
    finally:
        if not was_running:
            kafka.stop(conf)
    return rows



