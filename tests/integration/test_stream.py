"""The profiles stream against the real Kafka broker, in-process (availableNow runs).

One scenario, two runs of the stream, hand-written events for three people:
- Ann (customer C1): a tier update, a cart add sent twice, a page view; then, later, an
  *older* tier update arriving late, the same cart add again, and an order of what was in
  her cart;
- Bob as two profiles: one known by email (a ticket, a csat), one by customer id C2 (an
  order); then one chat message carrying both identifiers links them;
- malformed records between them.
Each test checks one behaviour on the outcome; expected values are worked out by hand.
"""

from __future__ import annotations

import io
import json
import uuid
from contextlib import redirect_stdout, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from pyspark.sql import functions as F

from pipelines.catalog import Catalog
from pipelines.config import overridden, relocated
from pipelines.services.process import wait_until
from pipelines.stream.history import profile_history
from pipelines.stream.microbatch import StreamContext, process_batch
from pipelines.stream.runner import start_profile_stream
from pipelines.stream.settings import StreamSettings

pytestmark = pytest.mark.integration
QUERY = "stream_it"
T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
ANN = {"customer_id": "C1", "email": "ann@example.com"}


def at(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")


def env(event_id, event_type, hours, identifiers, source, **properties) -> dict:
    return {"event_id": event_id, "event_type": event_type, "event_time": at(hours),
            "source": source, "identifiers": identifiers, "properties": properties,
            "schema_version": 1}


def cart_add(event_id, hours, sku, quantity):
    return env(event_id, "add_to_cart", hours, ANN, "web", sku=sku, category="home",
               quantity=quantity, unit_price=10.0, currency="EUR")


FIRST = [
    env("a1", "profile_updated", 2, ANN, "crm",
        attributes={"account_tier": "gold", "country": "DE"}),
    cart_add("a2", 0, "S1", 2),
    cart_add("a2", 0, "S1", 2),  # the same message again: counted once
    env("a3", "page_view", 0.5, ANN, "web", url="https://shop/", session_id="s1"),
    '{"event_id": "m1", "event_type": "page_vi',  # truncated
    env("m2", "cart_abandoned", 0, ANN, "web"),
    env("b1", "ticket_opened", 0, {"email": " Bob@Example.com "}, "support", ticket_id="K1",
        channel="email", priority="high", category="delivery", status="open"),
    env("b2", "csat_submitted", 1, {"email": "bob@example.com"}, "support", score=4),
    env("c1", "order_placed", 0, {"customer_id": "C2"}, "orders", order_id="O9", amount=100.0,
        currency="EUR", items=[{"sku": "S9", "category": "toys", "quantity": 1,
                                "unit_price": 100.0}]),
]
SECOND = [
    env("a4", "profile_updated", 1, ANN, "crm", attributes={"account_tier": "silver"}),
    cart_add("a2", 0, "S1", 2),  # already in the event log
    env("a5", "order_placed", 3, ANN, "orders", order_id="O1", amount=20.0, currency="EUR",
        items=[{"sku": "S1", "category": "home", "quantity": 2, "unit_price": 10.0}]),
    env("l1", "chat_message", 1, {"email": "bob@example.com", "customer_id": "C2"}, "chat",
        conversation_id="V1", role="customer"),
    env("f1", "page_view", 24 * 3, ANN, "web", url="https://shop/", session_id="s2"),  # future
]


@dataclass
class Outcome:
    catalog: Catalog
    conf: object
    topic: str
    root: str
    metrics: list[dict]
    after_first: dict[str, dict]  # customer/email -> profile row after the first run
    jobs_left: set[int]  # SQL executions the stream's runs left jobs behind for


def _send(bootstrap: str, topic: str, messages: list) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for m in messages:
        value = m if isinstance(m, str) else json.dumps(m)
        producer.send(topic, value.encode(), key=b"one-partition")
    producer.flush()
    producer.close()


def _run(spark, conf, settings) -> None:
    stream = start_profile_stream(spark, conf, settings=settings, available_now=True)
    stream.query.awaitTermination()
    stream.stop()
    assert stream.query.exception() is None


def _executions_holding_jobs(spark) -> set[int]:
    """SQL execution ids Spark's scheduler still keeps jobs for (``DAGScheduler.
    activeQueryToJobs``, Spark ≥ 4.1: an entry is dropped when its execution ends)."""
    held = spark.sparkContext._jsc.sc().dagScheduler().activeQueryToJobs()
    return {int(k) for k in held.keySet().toArray()}


def _profiles(spark, catalog) -> dict[str, dict]:
    """Profile rows by each of their identifier values."""
    rows = spark.read.format("delta").load(catalog.path("profiles")).collect()
    out = {}
    for r in rows:
        for values in (r.identifiers or {}).values():
            for v in values:
                out[v] = r.asDict(recursive=True)
    return out


@pytest.fixture(scope="module")
def outcome(spark, base_conf, kafka_broker, redis_conf, tmp_path_factory) -> Outcome:
    from pipelines.services.kafka import create_topic

    root = str(tmp_path_factory.mktemp("stream") / "var")
    # The chatbot hop on, with a cache prefix of its own on the test Redis.
    conf = overridden(relocated(base_conf, root), {
        "streaming.chatbot_sync": True, "cache.prefix": f"t{uuid.uuid4().hex[:8]}"})
    topic = create_topic(kafka_broker, f"test.stream.{uuid.uuid4().hex[:8]}", partitions=2)
    settings = StreamSettings.from_conf(conf).with_overrides(topics=(topic,), query_name=QUERY)
    metrics: list[dict] = []
    catalog = Catalog(conf)
    _send(kafka_broker, topic, FIRST)
    held_before = _executions_holding_jobs(spark)
    # Both identity engines in one lane: the first batch resolved by Spark, the second (with
    # the merge) on the driver, as identity.local_max_records decides by batch size.
    _run(spark, overridden(conf, {"identity.local_max_records": 0}), settings)
    after_first = _profiles(spark, catalog)
    _send(kafka_broker, topic, SECOND)
    _run(spark, conf, settings)
    # The scheduler drops an ended execution's jobs on its event loop: give it a moment, then
    # keep what is left for the test to name.
    with suppress(TimeoutError):
        wait_until(lambda: not _executions_holding_jobs(spark) - held_before, 10,
                   "the scheduler to drop the stream's jobs")
    jobs_left = _executions_holding_jobs(spark) - held_before
    metrics = [r.asDict() for r in spark.read.format("delta")
               .load(catalog.path("stream_metrics")).orderBy("batch_id").collect()]
    return Outcome(catalog, conf, topic, root, metrics, after_first, jobs_left)


def test_the_stream_leaves_no_spark_job_behind(outcome):
    """Every job a micro-batch runs is forgotten when the batch ends. A job Spark's scheduler
    keeps holds its query plan, broadcasts and cached relations, so one kept per batch fills
    the driver's heap within the hour and slows every batch (docs/performance.md, "Jobs
    Spark never forgot")."""
    assert outcome.jobs_left == set()


def test_a_duplicate_event_counts_once(spark, outcome):
    ann = _profiles(spark, outcome.catalog)["C1"]
    assert ann["event_count"] == 5  # a1, a2, a3, a4, a5: a2 arrived three times
    events = spark.read.format("delta").load(outcome.catalog.path("events"))
    assert events.where("event_id = 'a2'").count() == 1
    first, second = outcome.metrics
    assert (first["duplicates_in_batch"], first["duplicates_in_log"]) == (1, 0)
    assert (second["duplicates_in_batch"], second["duplicates_in_log"]) == (0, 1)


def test_an_older_update_arriving_late_does_not_overwrite_a_newer_one(spark, outcome):
    ann = _profiles(spark, outcome.catalog)["C1"]
    assert ann["account_tier"] == "gold"  # silver (a4) happened earlier, arrived later
    assert ann["account_tier_set_at"] == (T0 + timedelta(hours=2)).replace(tzinfo=None)
    assert ann["country"] == "DE"


def test_cart_add_shows_intent_and_an_order_clears_what_was_bought(spark, outcome):
    before = outcome.after_first["C1"]
    assert [(c["sku"], c["quantity"]) for c in before["cart"]] == [("S1", 2)]
    assert (before["intent"], before["cart_value"]) == ("cart", 20.0)
    after = _profiles(spark, outcome.catalog)["C1"]
    assert after["cart"] == [] and after["intent"] != "cart"
    assert (after["orders_count"], after["net_spend"]) == (1, 20.0)


def test_malformed_records_are_quarantined_with_position_and_reason(spark, outcome):
    rows = (spark.read.format("delta").load(outcome.catalog.path("quarantine"))
            .where(F.col("run_id").startswith(f"{QUERY}:")).collect())
    got = sorted((json.loads(r.payload)["topic"], r.reason.split(":")[0]) for r in rows)
    assert got == [(outcome.topic, "future_time"), (outcome.topic, "invalid_json"),
                   (outcome.topic, "unknown_event_type")]
    truncated = next(json.loads(r.payload) for r in rows if r.reason.startswith("invalid_json"))
    assert truncated["value"] == FIRST[4]
    assert isinstance(truncated["partition"], int) and isinstance(truncated["offset"], int)
    # The stream went on: the second run processed what came after the bad records.
    assert outcome.metrics[1]["new_events"] == 3  # a4, a5, l1


def test_a_linking_event_merges_two_profiles(spark, outcome):
    bob_email = outcome.after_first["bob@example.com"]["profile_id"]
    bob_c2 = outcome.after_first["C2"]["profile_id"]
    assert bob_email != bob_c2
    merges = spark.read.format("delta").load(outcome.catalog.path("identity_merges")).collect()
    assert len(merges) == 1
    m = merges[0]
    assert {m.survivor_profile_id, m.merged_profile_id} == {bob_email, bob_c2}
    assert m.record_id == "l1"
    now = _profiles(spark, outcome.catalog)
    bob = now["C2"]
    assert bob["profile_id"] == now["bob@example.com"]["profile_id"] == m.survivor_profile_id
    ids = spark.read.format("delta").load(outcome.catalog.path("profiles")).select("profile_id")
    assert m.merged_profile_id not in {r.profile_id for r in ids.collect()}
    # Both histories: ticket + csat (by email), order (by customer id), and the chat.
    assert (bob["event_count"], bob["orders_count"], bob["open_tickets"], bob["avg_csat"]) == (
        4, 1, 1, 4.0)
    assert outcome.metrics[1]["merges"] == 1


def test_version_increases_per_change_and_history_shows_what_and_why(spark, outcome):
    ann_id = outcome.after_first["C1"]["profile_id"]
    assert outcome.after_first["C1"]["version"] == 1
    assert _profiles(spark, outcome.catalog)["C1"]["version"] == 2
    history = profile_history(spark, outcome.catalog, ann_id)
    assert [(c.change, c.version) for c in history.changes] == [("insert", 1), ("update", 2)]
    second = history.changes[1]
    assert second.changed["orders_count"] == (0, 1)
    assert second.changed["intent"] == ("cart", None)
    assert set(second.event_ids) == {"a4", "a5"}
    assert second.batch == f"{QUERY}:1"


def test_history_cli_prints_the_changes(outcome):
    from jobs.profile_history import main

    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["--env", "test", "--root", outcome.root, "--identifier",
                     "customer_id=C1", "--json"])
    assert code == 0
    printed = json.loads(out.getvalue())
    assert [c["version"] for c in printed["changes"]] == [1, 2]
    assert printed["changes"][1]["changed"]["orders_count"] == {"old": 0, "new": 1}


def test_metrics_record_every_batch(outcome):
    first, second = outcome.metrics
    assert [first["batch_id"], second["batch_id"]] == [0, 1]
    assert (first["input_rows"], first["invalid_rows"], first["new_events"]) == (9, 2, 6)
    assert (second["input_rows"], second["invalid_rows"]) == (5, 1)
    for m in outcome.metrics:
        assert m["processing_s"] > 0 and m["lag_p50_s"] <= m["lag_p95_s"] <= m["lag_max_s"]
        assert m["lag_p50_s"] > 0 and not m["replayed"]


def test_replaying_a_committed_batch_changes_nothing(spark, outcome):
    catalog = outcome.catalog
    before = {t: spark.read.format("delta").load(catalog.path(t)).count()
              for t in ("events", "profiles", "identity_links", "identity_merges")}
    versions = {r.profile_id: r.version for r in
                spark.read.format("delta").load(catalog.path("profiles")).collect()}
    batch = (spark.read.format("kafka")
             .option("kafka.bootstrap.servers", str(outcome.conf.get("kafka.bootstrap_servers")))
             .option("subscribe", outcome.topic)
             .option("startingOffsets", "earliest").load()
             .where(F.col("offset") >= len(FIRST)))  # the second batch's records
    settings = StreamSettings.from_conf(outcome.conf).with_overrides(
        topics=(outcome.topic,), query_name=QUERY)
    metrics = process_batch(batch, 1, StreamContext.from_conf(outcome.conf, settings))
    assert metrics["replayed"]
    after = {t: spark.read.format("delta").load(catalog.path(t)).count() for t in before}
    assert after == before
    assert {r.profile_id: r.version for r in
            spark.read.format("delta").load(catalog.path("profiles")).collect()} == versions


def test_each_batch_publishes_changed_profiles_to_the_export_and_the_cache(spark, outcome):
    """The chatbot sees what the profiles table holds: same version in the Delta export and
    in Redis; the profile merged away by the linking event answers with its survivor."""
    from pipelines.services.redis_server import client
    from pipelines.serving import cache

    prefix = str(outcome.conf.get("cache.prefix"))
    redis = client(outcome.conf)
    catalog = outcome.catalog
    profiles = {r.profile_id: r.version for r in
                spark.read.format("delta").load(catalog.path("profiles")).collect()}
    exported = {r.profile_id: r.profile_version for r in
                spark.read.format("delta").load(catalog.path("chatbot_export")).collect()}
    assert exported == profiles
    for profile_id, version in profiles.items():
        doc, _, served = cache.read(redis, "p", profile_id, prefix=prefix)
        assert served == profile_id
        assert json.loads(doc)["profile_version"] == version
    merged = spark.read.format("delta").load(catalog.path("identity_merges")).first()
    doc, _, served = cache.read(redis, "p", merged.merged_profile_id, prefix=prefix)
    assert served == merged.survivor_profile_id
    assert sum(m["chatbot_rows"] for m in outcome.metrics) >= len(profiles)
