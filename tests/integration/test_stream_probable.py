"""The probable tier beside a running stream (pipelines/stream/probable_sync.py), against the
real Kafka broker, Delta and Redis: the refresher publishes a customer's browsing on their own
device while the query runs; the micro-batches themselves do no refresh. That a refresh
publishes a profile no batch touched, and gives the batch ingest's tier: the parity test in
tests/integration/test_ingest_job.py.

Device d1: the customer C1 is seen on it (a page view while logged in) and so is the
anonymous id a1 (a product view of S1). With the test conf's probable settings, a1 is
attached to C1's profile above the serving threshold, so C1's served
``probable_last_viewed`` becomes S1. The batch that carried both events published C1 before
any tier existed: S1 can only have come from the refresher."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from pipelines.catalog import Catalog
from pipelines.config import overridden, relocated
from pipelines.gate.delta_io import read_if_exists
from pipelines.stream.runner import start_profile_stream
from pipelines.stream.settings import StreamSettings

pytestmark = pytest.mark.integration
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def _at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def _event(event_id: str, event_type: str, minutes: float, identifiers: dict,
           **properties) -> dict:
    return {"event_id": event_id, "event_type": event_type, "event_time": _at(minutes),
            "source": "web", "identifiers": identifiers,
            "properties": {"url": "https://shop/", "session_id": "s1", **properties},
            "schema_version": 1}


EVENTS = [
    _event("v1", "product_view", 0, {"anonymous_id": "a1", "device_id": "d1"}, sku="S1",
           category="shoes"),
    _event("l1", "page_view", 2, {"customer_id": "C1", "device_id": "d1"}),
]


def _send(bootstrap: str, topic: str, messages: list[dict]) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for m in messages:
        producer.send(topic, json.dumps(m).encode(), key=b"k")
    producer.flush()
    producer.close()


def test_the_refresher_publishes_browsing_beside_the_running_batches(
        spark, base_conf, kafka_broker, redis_conf, tmp_path):
    from pipelines.services.kafka import create_topic
    from pipelines.services.redis_server import client
    from pipelines.serving import cache

    prefix = f"pr{uuid.uuid4().hex[:8]}"
    conf = overridden(relocated(base_conf, str(tmp_path / "var")), {
        "identity.probable.enabled": True, "streaming.probable_refresh_s": 0,
        "streaming.chatbot_sync": True, "cache.prefix": prefix})
    topic = create_topic(kafka_broker, f"test.probable.{uuid.uuid4().hex[:8]}", partitions=1)
    settings = StreamSettings.from_conf(conf).with_overrides(
        topics=(topic,), query_name="stream_probable_it", trigger_interval="500 milliseconds")
    batches: list[dict] = []
    redis = client(conf)
    catalog = Catalog(conf)

    def served_last_viewed() -> str | None:
        links = read_if_exists(spark, catalog.path("identity_links"))
        customer = None if links is None else (
            links.where("id_type = 'customer_id' AND id_value = 'C1'").first())
        if customer is None:
            return None
        hit = cache.read(redis, "p", customer.profile_id, prefix=prefix)
        viewed = json.loads(hit[0]).get("probable_last_viewed") if hit else None
        return (viewed or {}).get("sku")

    _send(kafka_broker, topic, EVENTS)
    stream = start_profile_stream(spark, conf, settings=settings, on_batch=batches.append)
    try:
        deadline = time.monotonic() + 240
        while served_last_viewed() != "S1":
            assert stream.query.isActive, stream.query.exception()
            assert time.monotonic() < deadline, "C1's served last view never became S1"
            time.sleep(1)
        assert stream.query.isActive  # published by the thread, not by a stop's flush
    finally:
        stream.stop()
    assert [b["new_events"] for b in batches] == [2]
    assert "probable" not in batches[0]["step_s"]
