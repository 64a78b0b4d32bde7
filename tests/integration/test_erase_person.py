"""Erasure end to end on real Spark + Delta, Redis and Kafka: a person with unique markers
arrives through the batch landing files, the hot lane and the Delta lane, reaches the
features, segments, chatbot export and cache; ``erase_person`` removes them; then every file
under the lakehouse and landing folders, every Redis key under the test's prefix and the
topic's remaining records are searched for the markers (0 hits), other people's rows are
counted (unchanged), and a rerun finds nothing and says so."""

from __future__ import annotations

import json
import shutil
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from pipelines.catalog import Catalog
from pipelines.config import overridden, relocated
from tests.privacy_search import search_files, search_redis, search_topic

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
NOW = datetime(2026, 9, 1)
TAG = uuid.uuid4().hex[:10]
EMAIL = f"zz-erase-{TAG}@example.com"
CUSTOMER = f"CZZ{TAG.upper()}"
FIRST, LAST = f"Zzfirst{TAG}", f"Zzlast{TAG}"
ANON, DEVICE = f"a-zz{TAG}", f"d-zz{TAG}"
TABLES = ("bronze_crm_customers", "bronze_orders", "bronze_support_tickets",
          "bronze_web_events", "bronze_social_mentions", "events", "quarantine",
          "identity_links", "identity_merges", "profiles", "features", "segments",
          "chatbot_export", "chatbot_identifiers")


def _landing(conf) -> None:
    """The shipped examples (other people) with the person's records added to each file:
    messy case and spaces, an order with an unknown currency (quarantined), a web visit with
    only an anonymous id (a profile of its own until the stream links it: a merge)."""
    land = Path(conf.path("paths.landing"))
    messy = f"  {EMAIL.upper()} "
    extra = {
        "crm/crm.csv": f'"{CUSTOMER}","{FIRST}","{LAST}","{messy}","+1 305-555-0199","US",'
                       f'"en","Gold","02/09/2025 12:44","05/09/2026 06:17"\n',
        "orders/orders.csv":
            f'"ORD-ZZ{TAG}","{CUSTOMER}","{EMAIL}","2026-08-02T08:00:31+01:00","placed","EUR",'
            f'4999,"[{{""sku"":""SKU-1"",""category"":""home"",""qty"":1,""unit_price_minor"":4999}}]"\n'
            f'"ORD-ZY{TAG}","{CUSTOMER}","{EMAIL}","2026-08-03T08:00:31+01:00","placed","XXX",'
            f'100,"[]"\n',
        "tickets/tickets.jsonl": json.dumps({
            "ticket": f"T-ZZ{TAG}", "requester": {"email": messy, "customer_number": CUSTOMER},
            "channel": "chat", "priority": "low", "category": "shipping", "status": "New",
            "created_at": "2026-08-04 11:00:22 UTC", "updated_at": "2026-08-04 11:00:22 UTC",
            "csat": None}) + "\n",
        "web/web.jsonl": json.dumps({
            "event_id": f"ev-zz{TAG}", "ts": 1785572098000, "event": "pageview",
            "anon_id": ANON, "user_id": None, "device_id": DEVICE, "session_id": f"s-zz{TAG}",
            "url": "https://www.acmeshop.example/", "sku": None, "category": None,
            "qty": None, "price": None, "currency": None}) + "\n",
    }
    for source, name in (("crm", "crm.csv"), ("orders", "orders.csv"),
                         ("tickets", "tickets.jsonl"), ("web", "web.jsonl"),
                         ("social", "social.json")):
        (land / source).mkdir(parents=True, exist_ok=True)
        shutil.copy(EXAMPLES / name, land / source / name)
        key = f"{source}/{name}"
        if key in extra:
            with open(land / key, "a", encoding="utf-8") as f:
                f.write(extra[key])
    social = json.loads((land / "social/social.json").read_text())
    social["data"].append({"id": f"99{int(TAG, 16)}", "platform": "twitter",
                           "handle": f"@zz{TAG}", "created_time": "Mon Aug 10 16:28:46 +0000 2026",
                           "text": f"hello from {FIRST}", "sentiment": 0.5,
                           "profile_email": EMAIL})
    (land / "social/social.json").write_text(json.dumps(social))


def _live_events() -> list[dict]:
    at = (datetime.now(UTC) - timedelta(hours=1)).isoformat().replace("+00:00", "Z")

    def env(eid, identifiers, **props):
        return {"event_id": f"{eid}-{TAG}", "event_type": "add_to_cart", "event_time": at,
                "source": "web", "identifiers": identifiers, "schema_version": 1,
                "properties": {"sku": "S1", "category": "home", "quantity": 1,
                               "unit_price": 10.0, "currency": "EUR", **props}}

    return [
        # Links the anonymous visitor to the customer: the Delta lane merges the two.
        env("zz1", {"customer_id": CUSTOMER, "anonymous_id": ANON}),
        env("zz2", {"email": EMAIL}),
        env("other1", {"customer_id": "C0000001"}),
    ]


def _other_rows(spark, catalog, markers) -> dict[str, int]:
    """Rows per table that mention none of the markers: other people's."""
    from pyspark.sql import functions as F

    out = {}
    for name in TABLES:
        df = spark.read.format("delta").load(catalog.path(name))
        text = F.lower(F.to_json(F.struct(*[F.col(f"`{c}`") for c in df.columns])))
        mine = F.lit(False)
        for m in markers:
            mine = mine | text.contains(m.lower())
        out[name] = df.where(~mine).count()
    return out


def _profile_ids(spark, catalog) -> set[str]:
    links = spark.read.format("delta").load(catalog.path("identity_links"))
    pids = {r.profile_id for r in links.where(
        links.id_value.isin(EMAIL, CUSTOMER, ANON, DEVICE)).collect() if r.profile_id}
    merges = spark.read.format("delta").load(catalog.path("identity_merges"))
    return pids | {r.merged_profile_id for r in merges.collect() if r.survivor_profile_id in pids}


def test_erasure_leaves_no_trace_and_keeps_everyone_else(
        spark, base_conf, kafka_broker, redis_conf, tmp_path):
    from jobs import assign_segments, build_features
    from jobs.erase_person import main as erase_main
    from jobs.export_chatbot import run_export
    from pipelines.hot.lane import HotLane
    from pipelines.ingest.flow import run_ingest
    from pipelines.privacy.erase import erase_person
    from pipelines.privacy.subject import ErasureRequestError
    from pipelines.services.kafka import create_topic
    from pipelines.services.redis_server import client as redis_client
    from pipelines.stream.history import profile_history
    from pipelines.stream.settings import StreamSettings
    from tests.integration.test_stream import _run, _send

    started = time.monotonic()
    topic = create_topic(kafka_broker, f"test.erase.{TAG}", partitions=1)
    prefix = f"e{TAG}"
    conf = overridden(relocated(base_conf, str(tmp_path / "var")), {
        "cache.prefix": prefix, "streaming.topics": [topic],
        "hot.group_id": f"erase-{TAG}", "streaming.query_name": f"erase_{TAG}"})
    catalog = Catalog(conf)
    redis = redis_client(conf)

    # The person arrives through every path: batch files, the hot lane, the Delta lane,
    # the nightly features and segments, the chatbot export and its cache.
    _landing(conf)
    run_ingest(spark, conf, ["crm", "orders", "tickets", "web", "social"], NOW,
               echo=lambda _m: None)
    _send(kafka_broker, topic, _live_events())
    lane, stop = HotLane(conf), threading.Event()
    thread = threading.Thread(target=lane.run, args=(stop.is_set,))
    thread.start()
    deadline = time.monotonic() + 60
    while lane.stats.records < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    stop.set()
    thread.join(30)
    assert lane.stats.records == 3
    _run(spark, conf, StreamSettings.from_conf(conf))
    as_of = date(2026, 9, 1)
    build_features.run(spark, conf, as_of)
    assign_segments.run(spark, conf, as_of)
    run_export(spark, conf, datetime.now(UTC))

    pids = _profile_ids(spark, catalog)
    assert len(pids) >= 2  # the visitor's profile was merged into the customer's
    markers = [EMAIL, CUSTOMER, FIRST, LAST, ANON, DEVICE, *pids]
    roots = [conf.path("paths.lakehouse"), conf.path("paths.landing")]
    assert search_files(roots, markers) and search_redis(redis, prefix, markers)
    assert search_topic(kafka_broker, topic, markers)
    others_before = _other_rows(spark, catalog, markers)
    assert all(others_before[t] > 0 for t in ("events", "profiles", "identity_links"))

    # Bad requests are refused before anything happens.
    for argv in ([], ["--email", EMAIL, "--customer-id", CUSTOMER], ["--email", "not-an-email"]):
        with pytest.raises(SystemExit) as refused:
            erase_main(argv)
        assert refused.value.code == 2
    with pytest.raises(ErasureRequestError, match="no person"):
        erase_person(spark, conf, "email", f"nobody-{TAG}@example.com", NOW, echo=print)

    report = erase_person(spark, conf, "email", f" {EMAIL.upper()}", NOW, echo=print)
    print(json.dumps(report.summary(), indent=1))
    assert report.profiles == len(pids)
    assert report.complete and report.kafka.records_deleted == 2

    hits = (search_files(roots, markers) + search_redis(redis, prefix, markers)
            + search_topic(kafka_broker, topic, markers))
    assert hits == []
    assert _other_rows(spark, catalog, markers) == others_before

    log = spark.read.format("delta").load(catalog.path("erasure_log")).collect()
    assert [r.subject_hash for r in log] == [report.subject_hash]
    assert EMAIL not in json.dumps([r.asDict() for r in log], default=str)

    # The change feed of the cut tables still answers, from the erasure on.
    other = spark.read.format("delta").load(catalog.path("profiles")).first().profile_id
    profile_history(spark, catalog, other)

    again = erase_person(spark, conf, "email", EMAIL, NOW, echo=print)
    assert again.previously_erased_at is not None and not again.found_anything
    print(f"erasure test: {time.monotonic() - started:.0f} s")
