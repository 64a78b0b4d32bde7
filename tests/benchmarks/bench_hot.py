"""The hot lane beside the Delta lane: produce → visible through the read API, throughput, and
agreement once both lanes drain.

Phases on one scratch lakehouse and one Redis prefix:
1. seed: one profile_updated + one logged-in page view per customer of a synthetic population
   (100k at full scale) through the Delta lane (chatbot hop on), so every customer has a base;
2. latency: the Delta lane (processing-time trigger, in this process), the hot lane
   (``profilake-hot`` child process) and the read API (child process) run on one topic; a
   sender paces ``rate`` events/s of mixed types for random customers, and a prober sends, every
   100 ms, an ``add_to_cart`` with a unique sku for a random customer and polls the API until
   the cart shows it: produce → visible p50 / p99 / max. The Delta lane's own figure for the
   same events (commit of its profile MERGE − event_time) is reported beside it;
3. agreement: after both lanes drain, every profile the phase touched is read as the API
   serves it and compared with its row in the Delta export (all published fields but
   profile_version and exported_at);
4. throughput: ``events`` producer messages (conf messiness shares) pre-loaded into a fresh
   topic, then hot-lane processes (1, then 2 in one consumer group) drain it: events/s.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import httpx
from pyspark.sql import functions as F

from pipelines.catalog import Catalog
from pipelines.config import PROJECT_DIR, Conf, overridden
from pipelines.events.envelope import build_envelope, serialize
from pipelines.events.producer import produce, settings_from_conf, synthetic_population
from pipelines.serving.cache import READ_SCRIPT, drop_prefix
from pipelines.serving.served import Composer, from_reply
from pipelines.session import get_spark
from pipelines.stream.runner import start_profile_stream
from pipelines.stream.settings import StreamSettings, stream_conf
from tests.benchmarks.bench_stream import _run_available_now, new_topic, send_seed

SCALES = {
    # profiles, latency rate (events/s), latency seconds, throughput events
    "small": (5_000, 1_000, 30, 50_000),
    "full": (100_000, 1_000, 60, 200_000),
}
KEY = "bench-hot"


def _hot_process(conf: Conf, topic: str, group: str, log) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "jobs.hot_lane", "--topic", topic,
           "--set", f"cache.prefix={conf.get('cache.prefix')}", "--set", f"hot.group_id={group}"]
    env = {**os.environ, "PROFILAKE_ENV": conf.env}
    return subprocess.Popen(cmd, cwd=PROJECT_DIR, env=env, stdout=subprocess.DEVNULL,
                            stderr=log, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def _end_offsets(conf: Conf, topic: str) -> dict[str, int]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=str(conf.get("kafka.bootstrap_servers")))
    parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
    ends = consumer.end_offsets(parts)
    consumer.close()
    return {f"{tp.topic}:{tp.partition}": end for tp, end in ends.items()}


def _caught_up(client, key: str, ends: dict[str, int], inclusive: bool) -> bool:
    """Has the hash ``key`` (pk → offset) reached the end offsets? The hot lane stores the last
    applied offset (inclusive), the Delta frontier the next one (exclusive)."""
    held = {k.decode(): int(v) for k, v in client.hgetall(key).items()}
    return all(end == 0 or held.get(pk, -1) + (1 if inclusive else 0) >= end
               for pk, end in ends.items())


def _wait(check, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def _pace(conf: Conf, topic: str, people, rate: float, seconds: float, touched: set) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=str(conf.get("kafka.bootstrap_servers")),
                             linger_ms=2, acks=1)
    rng = random.Random(2)
    types = ("page_view", "product_view", "add_to_cart", "chat_message", "order_placed",
             "ticket_opened", "profile_updated")
    start, n = time.monotonic(), 0
    while (elapsed := time.monotonic() - start) < seconds:
        while n < int(elapsed * rate) + 1:
            c = people[rng.randrange(len(people))]
            env = build_envelope(types[n % len(types)], c, rng, time.time())
            env["identifiers"]["customer_id"] = c.customer_id
            producer.send(topic, serialize(env), c.key.encode())
            touched.add(c.customer_id)
            n += 1
        time.sleep(0.002)
    producer.flush()
    producer.close()


def _probe(conf: Conf, topic: str, people, url: str, seconds: float, touched: set) -> list:
    """Every 100 ms: a cart add with a unique sku, polled through the API until visible."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=str(conf.get("kafka.bootstrap_servers")),
                             linger_ms=0, acks=1)
    rng = random.Random(3)
    latencies: list[float] = []
    with httpx.Client(base_url=url, headers={"X-API-Key": KEY}) as http:
        start, n = time.monotonic(), 0
        while time.monotonic() - start < seconds:
            c = people[rng.randrange(len(people))]
            env = build_envelope("add_to_cart", c, rng, time.time())
            env["identifiers"]["customer_id"] = c.customer_id
            sku = env["properties"]["sku"] = f"PROBE-{n}"
            sent = time.monotonic()
            producer.send(topic, serialize(env), c.key.encode())
            producer.flush()
            touched.add(c.customer_id)
            while time.monotonic() - sent < 10:
                r = http.get(f"/v1/lookup/customer_id/{c.customer_id}")
                if r.status_code == 200 and any(
                    line["sku"] == sku for line in r.json().get("cart") or []
                ):
                    latencies.append((time.monotonic() - sent) * 1000)
                    break
                time.sleep(0.002)
            n += 1
            time.sleep(max(0.0, start + n * 0.1 - time.monotonic()))
    producer.close()
    return latencies


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def _agreement(spark, conf: Conf, touched: set) -> dict[str, Any]:
    from pipelines.services.redis_server import client as redis_client

    client = redis_client(conf)
    prefix = str(conf.get("cache.prefix"))
    composer = Composer.from_conf(conf)
    script = client.register_script(READ_SCRIPT)
    export = {r.profile_id: json.loads(r.document) for r in spark.read.format("delta")
              .load(Catalog(conf).path("chatbot_export")).select("profile_id", "document")
              .collect()}
    own = {"profile_version", "exported_at"}
    equal = pending = 0
    for cid in touched:
        found = from_reply(script(args=[prefix, "i", f"customer_id:{cid}", 5]))
        served = json.loads(composer.body(found)) if found else {}
        delta = export.get(served.get("profile_id"), {})
        pending += served.get("pending_events", 0) > 0
        equal += bool(delta) and all(served.get(k) == v for k, v in delta.items() if k not in own)
    return {"profiles": len(touched), "equal": equal, "pending": pending}


def _throughput(conf: Conf, people, n_events: int, processes: int, log) -> dict[str, Any]:
    from pipelines.services.redis_server import client as redis_client

    topic = new_topic(conf, "hot")
    # A seed of its own: the same event ids as an earlier run would all be re-deliveries.
    produce(settings_from_conf(conf, topic=topic, rate=0, count=n_events, seed=100 + processes),
            people)
    ends = _end_offsets(conf, topic)
    total = sum(ends.values())
    client = redis_client(conf)
    key = f"{conf.get('cache.prefix')}:h:off"
    client.hdel(key, *ends)
    group = f"bench-hot-{uuid.uuid4().hex[:6]}"
    start = time.monotonic()
    procs = [_hot_process(conf, topic, group, log) for _ in range(processes)]
    try:
        # Steady state: from the first offset every process has moved (all joined and read)
        # to the end; start-up (imports, group join, first fetch) is reported apart.
        _wait(lambda: _applied(client, key, ends) > 0, 120)
        _wait(lambda: _members_busy(client, key, ends, processes), 120)
        first, first_at = _applied(client, key, ends), time.monotonic()
        done = _wait(lambda: _caught_up(client, key, ends, inclusive=True), 900)
        end = time.monotonic()
    finally:
        for p in procs:
            _stop(p)
    return {"name": f"hot_throughput_{processes}proc", "events": total, "drained": done,
            "startup_s": round(first_at - start, 1),
            "steady_events": total - first, "steady_s": round(end - first_at, 2),
            "events_per_s": round((total - first) / (end - first_at), 0),
            "events_per_s_incl_start": round(total / (end - start), 0)}


def _applied(client, key: str, ends: dict[str, int]) -> int:
    """Records the hot lane has moved past, over the partitions of ``ends``."""
    held = client.hmget(key, list(ends))
    return sum(int(v) + 1 for v in held if v is not None)


def _members_busy(client, key: str, ends: dict[str, int], processes: int) -> bool:
    """Has every partition moved (so each of ``processes`` members holds some)? With fewer
    partitions than members, any progress will do."""
    held = dict(zip(ends, client.hmget(key, list(ends)), strict=True))
    return processes == 1 or all(held[pk] is not None for pk, end in ends.items() if end > 0)


def run(ctx) -> list[dict]:
    from pipelines.services import kafka, redis_server
    from pipelines.serving.server import api_process

    n_profiles, rate, seconds, n_events = SCALES[ctx.scale]
    conf = overridden(stream_conf(ctx.conf), {"streaming.chatbot_sync": True,
                                              "cache.prefix": f"b{uuid.uuid4().hex[:6]}"})
    kafka.start(conf)
    redis_server.start(conf)
    spark = get_spark(conf, "bench")
    people = synthetic_population(n_profiles, int(conf.get("generator.seed")))
    base = StreamSettings.from_conf(conf)
    rows: list[dict] = []
    # The child processes' stderr outlives the scratch workdir: a failed phase can be read.
    log_path = (ctx.results_dir or ctx.workdir) / "hot-lane.log"
    print(f"  hot lane and API logs: {log_path}")
    log = open(log_path, "ab")  # noqa: SIM115 — closed at the end
    hot: subprocess.Popen | None = None
    stream = None
    try:
        seed_topic = new_topic(conf, "hot")
        seeded = send_seed(conf, seed_topic, people)
        seed = _run_available_now(spark, conf, base.with_overrides(
            topics=(seed_topic,), query_name="bench_hot_seed", max_offsets_per_trigger=seeded),
            seeded)
        rows.append({"name": "hot_seed_profiles", "profiles": n_profiles,
                     "records": seed["records"], "seconds": seed["seconds"]})

        topic = new_topic(conf, "hot")
        lane_conf = overridden(conf, {"streaming.topics": [topic]})
        stream = start_profile_stream(spark, lane_conf, settings=base.with_overrides(
            topics=(topic,), query_name="bench_hot_delta"))
        hot = _hot_process(lane_conf, topic, f"bench-hot-{uuid.uuid4().hex[:6]}", log)
        touched: set[str] = set()
        with api_process(lane_conf, KEY) as api:
            time.sleep(5)  # the hot lane joins its group
            sender = threading.Thread(target=_pace, args=(lane_conf, topic, people, rate,
                                                           seconds, touched))
            sender.start()
            latencies = _probe(lane_conf, topic, people, api.url, seconds, touched)
            sender.join()
        from pipelines.services.redis_server import client as redis_client

        ends = _end_offsets(conf, topic)
        client = redis_client(conf)
        prefix = str(conf.get("cache.prefix"))
        hot_done = _wait(lambda: _caught_up(client, f"{prefix}:h:off", ends, True), 300)
        delta_done = _wait(lambda: _caught_up(client, f"{prefix}:d:off", ends, False), 900)
        stream.stop()
        _stop(hot)
        lags = (
            spark.read.format("delta").load(Catalog(conf).path("events"))
            .where(F.col("origin").startswith(topic + "/"))
            .select(((F.unix_micros("ingested_at") - F.unix_micros("event_time")) / 1e6)
                    .alias("lag"))
            .agg(F.percentile_approx("lag", [0.5, 0.99], 10000).alias("p"), F.max("lag"))
            .first()
        )
        rows.append({"name": f"hot_visible_via_api_{rate:g}_eps", "profiles": n_profiles,
                     "probes": len(latencies), "p50_ms": _pct(latencies, 0.5),
                     "p99_ms": _pct(latencies, 0.99), "max_ms": _pct(latencies, 1.0),
                     "delta_lane_p50_s": round(lags[0][0], 1) if lags[0] else None,
                     "delta_lane_p99_s": round(lags[0][1], 1) if lags[0] else None,
                     "delta_lane_max_s": round(lags[1], 1) if lags[1] is not None else None})
        agreement = _agreement(spark, conf, touched) if hot_done and delta_done else {}
        rows.append({"name": "hot_served_equals_delta_after_drain", "hot_drained": hot_done,
                     "delta_drained": delta_done, **agreement})
        for processes in (1, 2):
            rows.append(_throughput(conf, people, n_events, processes, log))
    finally:
        # A phase that raised leaves neither lane running into the next benchmark.
        if hot is not None and hot.poll() is None:
            _stop(hot)
        if stream is not None:
            stream.query.stop()
            stream.stop()  # its probable refresher
        log.close()
        # A full-scale run's bases, overlays and guard keys (~600 MB) would otherwise fill the
        # next run's Redis.
        drop_prefix(redis_server.client(conf), str(conf.get("cache.prefix")))
    return rows
