"""The hot lane under faults, against the real broker and a Redis of its own: SIGKILLed five
times while events flow, then the broker restarted under it (ten times in the long run), then
Redis killed and restarted mid-run. After draining, every
customer's served profile equals the independent oracle (tests/stream_oracle.py) and no event
counts twice.

No Delta lane runs here, so every customer is a provisional profile of the hot lane alone —
what it serves is exactly its own overlay. The population's events carry only a customer id,
so provisional profiles are one per customer (the oracle's people).
"""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from pipelines.config import PROJECT_DIR, Conf, overridden, relocated
from pipelines.events.params import ParseParams
from pipelines.events.producer import synthetic_population
from pipelines.hot.resolve import Resolver
from pipelines.profiles import finalize_local, state_local
from pipelines.serving.cache import READ_SCRIPT
from pipelines.serving.served import entry_state, from_reply
from tests.broker_faults import ChunkedProducer, restart_broker
from tests.stream_oracle import counted, people

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture()
def own_redis(base_conf, tmp_path):
    """A redis-server of this test's own (it gets killed), on another port."""
    from pipelines.services import redis_server as rs

    # relocated() leaves services where they are: the data dir (pid file) is set here too.
    conf = overridden(relocated(base_conf, str(tmp_path / "var")), {
        "redis.port": 16391, "redis.server.data_dir": str(tmp_path / "redis")})
    rs.start(conf)
    yield conf
    rs.stop(conf)


def _lane(conf: Conf, topic: str, log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "jobs.hot_lane", "--env", "test", "--topic", topic,
           "--set", f"cache.prefix={conf.get('cache.prefix')}",
           "--set", f"hot.group_id={conf.get('hot.group_id')}",
           # Static membership: the restarted lane takes its partitions back at once, so the
           # next kill lands while it applies (not while the group waits out the dead member).
           "--set", "hot.instance_id=fault-lane",
           "--set", f"redis.port={conf.get('redis.port')}"]
    env = {**os.environ, "PROFILAKE_ENV": "test"}
    return subprocess.Popen(cmd, cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE,
                            stderr=open(log, "ab"), start_new_session=True, text=True)  # noqa: SIM115


def _kill(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)


def _drained(client, conf: Conf, topic: str, bootstrap: str) -> bool:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
    ends = consumer.end_offsets(parts)
    consumer.close()
    applied = client.hgetall(f"{conf.get('cache.prefix')}:h:off")
    return all(end == 0 or int(applied.get(f"{tp.topic}:{tp.partition}".encode(), -1)) >= end - 1
               for tp, end in ends.items())


def _served_state(client, conf: Conf, pid: str) -> dict:
    """The customer's served profile: its overlay folded and finalized (no base here)."""
    reply = client.register_script(READ_SCRIPT)(args=[conf.get("cache.prefix"), "p", pid, 5])
    found = from_reply(reply)
    assert found is not None, f"{pid} is not served"
    state = state_local.empty()
    parse = ParseParams.from_conf(conf)
    for entry in found.entries:
        state = state_local.merge(state, entry_state(entry, parse))
    return {**finalize_local.finalize(state, state["last_seen"]), "event_count": state[
        "event_count"], "orders_count": state["orders_count"], "refunds_count": state[
        "refunds_count"], "page_views": state["page_views"]}


def test_hot_lane_survives_sigkills_broker_restarts_and_a_lost_redis(own_redis, kafka_topic,
                                                                     tmp_path, request):
    from pipelines.services import redis_server as rs

    seed, rate = 7, 40
    conf = overridden(own_redis, {"cache.prefix": f"f{uuid.uuid4().hex[:8]}",
                                  "hot.group_id": f"hot-{uuid.uuid4().hex[:8]}",
                                  "streaming.topics": [kafka_topic]})
    bootstrap = str(conf.get("kafka.bootstrap_servers"))
    rng = random.Random(seed)
    population = [dataclasses.replace(c, email=None, phone=None, device_id=None,
                                      anonymous_id=None, social_handle=None)
                  for c in synthetic_population(30, seed)]
    producer = ChunkedProducer(conf, kafka_topic, population, rate=rate, seconds=5, seed=seed)
    producer.start()
    log = tmp_path / "hot.log"
    try:
        for _ in range(5):
            lane = _lane(conf, kafka_topic, log)
            time.sleep(rng.uniform(2.0, 5.0))
            _kill(lane)
        # Ctrl-C while events flow: a clean stop between two polled batches.
        lane = _lane(conf, kafka_topic, log)
        time.sleep(rng.uniform(2.0, 4.0))
        lane.send_signal(signal.SIGINT)
        out, _ = lane.communicate(timeout=30)
        assert lane.returncode == 0 and "hot lane:" in out.splitlines()[-1], out
        lane = _lane(conf, kafka_topic, log)
        time.sleep(3)
        # The broker restarts under the running lane (10 times in the long run): it
        # reconnects, nothing is lost or applied twice.
        restarts = 10 if request.config.getoption("--run-long") else 1
        restart_broker(conf, restarts, producer.sending)
        assert lane.poll() is None, f"the lane died with the broker; see {log}"
        time.sleep(2)
        # Redis dies under the running lane and comes back empty.
        os.kill(int((Path(conf.path("redis.server.data_dir")) / "redis.pid").read_text()),
                signal.SIGKILL)
        time.sleep(1)
        rs.start(conf)
        time.sleep(3)
    finally:
        producer.finish()
    assert not producer.failed_deliveries()
    sent = producer.sent
    client = rs.client(conf)
    deadline = time.monotonic() + 120
    while not _drained(client, conf, kafka_topic, bootstrap):
        assert time.monotonic() < deadline, f"the hot lane did not drain; see {log}"
        time.sleep(0.5)
    lane.send_signal(signal.SIGTERM)
    out, _ = lane.communicate(timeout=30)
    assert lane.returncode == 0, out
    assert "hot lane:" in out.splitlines()[-1]

    rates = {k.upper(): float(v) for k, v in conf.get("currency.rates").items()}
    cart_kept = int(conf.get("profiles.cart_events_kept"))
    expected_events = counted([m.envelope for m in sent if m.kind != "malformed"], rates)
    resolver = Resolver.from_conf(conf)
    stats = client.hgetall(f"{conf.get('cache.prefix')}:h:stats")
    assert int(stats[b"applied"]) >= len(expected_events)  # the rebuild re-applied some
    for person in people(expected_events.values()):
        (key,) = person.keys
        want = person.expected(rates, cart_kept)
        got = _served_state(client, conf, resolver.provisional_id([key]))
        served = {
            "event_count": got["event_count"],
            "orders_count": got["orders_count"],
            "refunds_count": got["refunds_count"],
            "net_spend": got["net_spend"],
            "cart": {line["sku"]: line["quantity"] for line in got["cart"]},
            "open_ticket_ids": got["open_ticket_ids"],
            "account_tier": got["account_tier"],
            "avg_csat": got["avg_csat"],
            "consent_marketing": got["consent_marketing"],
            "page_views": got["page_views"],
        }
        assert abs(served.pop("net_spend") - want.pop("net_spend")) < 0.015, key
        assert served == want, f"{key}: served profile differs from the independent fold"


def test_a_full_redis_pauses_the_lane_and_nothing_is_lost(own_redis):
    """Redis over maxmemory (nothing evictable but guard keys) refuses the apply: the lane
    waits and retries the same batch, and applies all of it once memory is raised."""
    from kafka.consumer.fetcher import ConsumerRecord

    from pipelines.events.envelope import build_envelope, serialize
    from pipelines.hot.lane import HotLane
    from pipelines.services.redis_server import client as redis_client

    conf = overridden(own_redis, {"cache.prefix": f"m{uuid.uuid4().hex[:6]}"})
    client = redis_client(conf)
    rng = random.Random(3)
    person = synthetic_population(1, 3)[0]
    now = time.time()
    records = [
        ConsumerRecord(
            topic="oom", partition=0, leader_epoch=-1, offset=offset,
            timestamp=int(now * 1000), timestamp_type=0, key=None,
            value=serialize(build_envelope("page_view", person, rng, now - 5)), headers=[],
            checksum=None, serialized_key_size=-1, serialized_value_size=-1,
            serialized_header_size=-1)
        for offset in range(5)
    ]
    lane = HotLane(conf, client=client)
    lane.token = lane._epoch()
    client.set("ballast", "x" * 2_000_000)  # not evictable under volatile-lru
    client.config_set("maxmemory", "1mb")
    threading.Timer(1.0, lambda: client.config_set("maxmemory", "0")).start()
    counts = lane._apply_until_done(records, should_stop=lambda: False)
    assert counts == {"applied": 5, "duplicate": 0, "covered": 0, "replayed": 0}
    assert lane.stats.counts["redis_full"] >= 1
    assert int(client.hget(f"{conf.get('cache.prefix')}:h:off", "oom:0")) == 4
