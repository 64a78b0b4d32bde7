"""The event producer: envelope builders, messiness, pacing, and a real Kafka round trip.

Expected values come from the rules (ARCHITECTURE §3.1 and the share rules in docs/events.md),
checked by a contract reader written here, independent of the code that builds the messages.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from pipelines.events.envelope import (
    MALFORMED_FLAWS,
    Customer,
    Message,
    build_envelope,
    duplicate,
    make_late,
    malformed,
    serialize,
)
from pipelines.events.producer import (
    MAX_BURST,
    EventStream,
    KindSchedule,
    Pacer,
    ProducerError,
    Shares,
    load_customers,
    produce,
    settings_from_conf,
    synthetic_population,
)
from pipelines.schemas.events import EVENT_TYPES, IDENTIFIER_TYPES, REQUIRED_PROPERTIES, SOURCES

NOW = 1_785_000_000.0  # 2026-07-25T17:20:00Z: a fixed clock for pure tests
ISO_UTC_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")
ISO_ANY = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$")
# Property types the envelope schema declares (pipelines/schemas/events.py PROPERTIES).
NUMBERS = {"quantity": int, "score": int, "unit_price": float, "amount": float,
           "cart_value": float, "sentiment": float}
BOOLEANS = ("personalization", "marketing")
FUTURE_TOLERANCE_S = 86400.0

ANNA = Customer(customer_id="C0000042", email="anna.muller42@example.com", phone="+4915112345678",
                device_id="dev-00aa", anonymous_id="anon-00bb", social_handle="instagram:@annam_42",
                first_name="Anna", last_name="Müller", country="DE", language="de",
                account_tier="gold")


def epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def violations(payload: bytes, now: float) -> list[str]:
    """Every way ``payload`` breaks the §3.1 contract, named like the producer's flaw tags."""
    try:
        env = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return ["invalid_json"]
    if not isinstance(env, dict):
        return ["invalid_json"]
    found = []
    for name in ("event_id", "event_type", "event_time", "source"):
        if name not in env:
            found.append(f"missing_field:{name}")
        elif not isinstance(env[name], str):
            found.append(f"wrong_type:{name}")
    ids = env.get("identifiers")
    if not isinstance(ids, dict) or not any(ids.get(k) for k in IDENTIFIER_TYPES):
        found.append("missing_field:identifiers")
    event_type = env.get("event_type")
    if isinstance(event_type, str) and event_type not in EVENT_TYPES:
        found.append("unknown_event_type")
    when = env.get("event_time")
    if isinstance(when, str):
        if not ISO_ANY.match(when):
            found.append("wrong_type:event_time")
        elif epoch(when) > now + FUTURE_TOLERANCE_S:
            found.append("future_time")
    if isinstance(env.get("source"), str) and env["source"] not in SOURCES:
        found.append("unknown_source")
    props = env.get("properties")
    if not isinstance(props, dict):
        return [*found, "missing_field:properties"]
    for name in REQUIRED_PROPERTIES.get(event_type, ()):
        if name not in props:
            found.append(f"missing_field:properties.{name}")
    for name, kind in NUMBERS.items():
        value = props.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or (kind is int and not isinstance(value, int))):
            found.append(f"wrong_type:properties.{name}")
    for name in BOOLEANS:
        if name in props and not isinstance(props[name], bool):
            found.append(f"wrong_type:properties.{name}")
    if env.get("schema_version") != 1:
        found.append("schema_version")
    return found


# ---------------------------------------------------------------- envelope builders


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_event_type_builds_a_contract_valid_envelope(event_type: str) -> None:
    for seed in range(30):
        env = build_envelope(event_type, ANNA, random.Random(seed), NOW - 0.25)
        assert env["event_type"] == event_type
        assert set(REQUIRED_PROPERTIES[event_type]) <= set(env["properties"])
        assert ISO_UTC_Z.match(env["event_time"]), env["event_time"]
        assert epoch(env["event_time"]) == pytest.approx(NOW - 0.25, abs=0.001)
        assert env["source"] in SOURCES
        assert env["identifiers"] and set(env["identifiers"]) <= set(IDENTIFIER_TYPES)
        assert env["schema_version"] == 1
        assert violations(serialize(env), NOW) == []
        assert json.loads(serialize(env)) == env


def test_order_items_add_up_to_the_amount() -> None:
    for seed in range(50):
        props = build_envelope("order_placed", ANNA, random.Random(seed), NOW)["properties"]
        total = sum(i["quantity"] * i["unit_price"] for i in props["items"])
        assert props["amount"] == pytest.approx(total, abs=0.01)
        assert props["currency"] == "EUR"  # Anna lives in Germany
        assert all({"sku", "category", "quantity", "unit_price"} <= set(i) for i in props["items"])


def test_a_refund_refers_to_the_order_it_refunds() -> None:
    env = build_envelope("order_refunded", ANNA, random.Random(1), NOW,
                         refund_of=("ORD-1234567890", 80.0))
    assert env["properties"]["order_id"] == "ORD-1234567890"
    assert 0 < env["properties"]["amount"] <= 80.0


def test_a_customer_with_a_single_identifier_still_identifies_every_event() -> None:
    only_email = Customer(email="ewa@example.org")
    for event_type in EVENT_TYPES:
        for seed in range(10):
            ids = build_envelope(event_type, only_email, random.Random(seed), NOW)["identifiers"]
            assert list(ids) == ["email"]
            # Systems may retype it (case, padding); normalized it is the same address.
            assert ids["email"].strip().lower() == "ewa@example.org"
    assert only_email.key == "ewa@example.org"


def test_unknown_event_type_is_refused_by_the_builder() -> None:
    with pytest.raises(ValueError, match="unknown event_type"):
        build_envelope("cart_abandoned", ANNA, random.Random(0), NOW)


# ---------------------------------------------------------------- messiness


def test_late_events_lie_a_minute_to_max_lateness_before_sending(base_conf) -> None:
    max_lateness = float(base_conf.get("producer.max_lateness_s"))
    env = build_envelope("page_view", ANNA, random.Random(0), NOW)
    lags = []
    for seed in range(500):
        late = make_late(env, NOW, max_lateness, random.Random(seed))
        assert ISO_UTC_Z.match(late["event_time"])
        lags.append(NOW - epoch(late["event_time"]))
        assert {k: v for k, v in late.items() if k != "event_time"} == {
            k: v for k, v in env.items() if k != "event_time"}
    assert min(lags) >= 60 - 0.001
    assert max(lags) <= max_lateness + 0.001
    assert max(lags) > 3600  # some are hours behind, not all minutes


def test_a_duplicate_is_the_same_message_again() -> None:
    env = build_envelope("add_to_cart", ANNA, random.Random(0), NOW)
    original = Message(b"C0000042", serialize(env), "valid", env["event_id"], env)
    again = duplicate(original)
    assert (again.key, again.value, again.event_id) == (original.key, original.value,
                                                        original.event_id)
    assert again.kind == "duplicate"
    with pytest.raises(ValueError):
        duplicate(Message(b"k", b"{", "malformed", None, None, "invalid_json:truncated"))


@pytest.mark.parametrize("flaw", MALFORMED_FLAWS)
def test_each_malformed_message_fails_the_contract_exactly_as_tagged(flaw: str) -> None:
    rng = random.Random(flaw)
    seen = set()
    for i in range(200):
        env = build_envelope(EVENT_TYPES[i % len(EVENT_TYPES)], ANNA, rng, NOW)
        payload, spoiled, tag = malformed(env, NOW, rng, flaw)
        assert tag.partition(":")[0] == flaw
        seen.add(tag)
        found = violations(payload, NOW)
        if flaw in ("invalid_json", "unknown_event_type"):
            assert found == [flaw], (tag, payload)
        else:
            assert found == [tag], (tag, payload)
        if flaw == "invalid_json":
            with pytest.raises(json.JSONDecodeError):
                json.loads(payload)
            assert spoiled is None
        else:
            assert json.loads(payload) == spoiled
        # The payload carries no hint of the test's tag.
        assert b"malformed" not in payload and flaw.encode() not in payload
    # The mix really is a mix: several variants of each flaw appear.
    assert len(seen) >= (2 if flaw in ("invalid_json", "wrong_type") else 1)
    if flaw == "missing_field":
        assert {"missing_field:event_id", "missing_field:event_time",
                "missing_field:identifiers"} <= seen


def test_malformed_amount_is_text_not_a_number() -> None:
    env = build_envelope("order_placed", ANNA, random.Random(0), NOW)
    tags = {malformed(env, NOW, random.Random(s), "wrong_type")[2] for s in range(40)}
    assert "wrong_type:properties.amount" in tags


# ---------------------------------------------------------------- population and mix


def test_synthetic_population_is_seeded_and_uniquely_identified() -> None:
    people = synthetic_population(300, seed=7)
    assert [p.customer_id for p in people] == [f"C{i:07d}" for i in range(1, 301)]
    for name in ("email", "device_id", "anonymous_id"):
        values = [getattr(p, name) for p in people]
        assert all(values) and len(set(values)) == 300
    phones = [p.phone for p in people if p.phone]
    assert len(set(phones)) == len(phones) and all(re.fullmatch(r"\+\d{8,15}", p) for p in phones)
    assert synthetic_population(300, seed=7) == people
    assert [p.email for p in synthetic_population(300, seed=8)] != [p.email for p in people]


def test_customers_load_from_a_ground_truth_table(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "people.parquet"
    pq.write_table(pa.table({
        "person_id": ["P1", "P2", "P3"],
        "customer_id": ["C0000001", None, None],
        "email": ["a@example.com", "b@example.com", None],
        "phone": ["+33123456789", None, None],
        "device_ids": [["dev-1", "dev-2"], [], None],
        "country": ["FR", "GB", "DE"],
    }), path)
    people = load_customers(path)
    assert [p.key for p in people] == ["C0000001", "b@example.com"]  # P3 has no identifier
    assert people[0].device_id == "dev-1" and people[0].currency == "EUR"
    assert people[1].currency == "GBP"
    assert "P1" not in {getattr(people[0], name) for name in IDENTIFIER_TYPES}


@pytest.mark.parametrize(
    ("n", "late", "dup", "bad", "expected"),
    [
        (7, 0.1, 0.1, 0.1, {"late": 1, "duplicate": 1, "malformed": 1, "valid": 4}),
        (400, 0.05, 0.10, 0.05, {"late": 20, "duplicate": 40, "malformed": 20, "valid": 320}),
        (1000, 0.05, 0.03, 0.01, {"late": 50, "duplicate": 30, "malformed": 10, "valid": 910}),
        (2500, 0.05, 0.03, 0.01, {"late": 125, "duplicate": 75, "malformed": 25, "valid": 2275}),
        (2500, 0.0, 0.0, 0.0, {"late": 0, "duplicate": 0, "malformed": 0, "valid": 2500}),
    ],
)
def test_a_run_of_known_size_has_exactly_round_share_of_each_kind(n, late, dup, bad, expected):
    schedule = KindSchedule(Shares(late, dup, bad), random.Random(0), total=n)
    assert Counter(schedule.next() for _ in range(n)) == Counter(expected)


def test_kinds_are_spread_at_random_not_in_runs() -> None:
    schedule = KindSchedule(Shares(0.1, 0.0, 0.0), random.Random(0), total=1000)
    positions = [i for i in range(1000) if schedule.next() == "late"]
    assert positions[0] < 200 and positions[-1] > 800


def test_stream_duplicates_repeat_an_earlier_message_of_the_same_person() -> None:
    people = synthetic_population(50, seed=1)
    stream = EventStream(people, Shares(0.1, 0.2, 0.1), 3600, seed=1, total=500,
                         clock=lambda: NOW)
    messages = [next(stream) for _ in range(500)]
    assert Counter(m.kind for m in messages) == {"valid": 300, "late": 50, "duplicate": 100,
                                                 "malformed": 50}
    first_seen: dict[str, Message] = {}
    for m in messages:
        if m.kind == "duplicate":
            original = first_seen[m.event_id]  # KeyError: a duplicate before its original
            assert (m.key, m.value) == (original.key, original.value)
        elif m.kind in ("valid", "late"):
            assert m.event_id not in first_seen
            first_seen[m.event_id] = m
            assert violations(m.value, NOW) == []
            assert json.loads(m.value) == m.envelope
        else:
            assert m.flaw and violations(m.value, NOW)
    keys = {c.customer_id for c in people}
    assert {m.key.decode() for m in messages} <= keys


def test_two_runs_with_the_same_seed_never_share_an_event_id() -> None:
    # Otherwise replaying a demo feed would be deduplicated away as one big retry.
    people = synthetic_population(20, seed=3)
    runs = []
    for _ in range(2):
        stream = EventStream(people, Shares(), 60, seed=3, clock=lambda: NOW)
        runs.append({next(stream).event_id for _ in range(200)})
    assert len(runs[0]) == len(runs[1]) == 200
    assert not runs[0] & runs[1]


def test_shares_that_cannot_hold_are_refused() -> None:
    with pytest.raises(ValueError):
        Shares(late=0.6, duplicate=0.3, malformed=0.2)
    with pytest.raises(ValueError):
        Shares(malformed=-0.1)


# ---------------------------------------------------------------- pacing


def test_pacer_releases_messages_on_schedule() -> None:
    pacer = Pacer(rate=100, origin=0.0)
    assert pacer.allowance(0.0, 0) == 1  # message 0 is due at once
    assert pacer.allowance(0.0, 1) == 0
    assert pacer.wait(0.0, 1) == pytest.approx(0.01)
    assert pacer.allowance(0.5, 1) == 50  # messages 1..50 are due by t=0.5 s
    # Two seconds behind: the backlog is given up, not burst out.
    assert pacer.allowance(2.5, 51) == 1
    assert pacer.allowance(2.5 + 0.1, 52) == 10
    assert Pacer(rate=0, origin=0.0).allowance(123.0, 10**6) == MAX_BURST


def test_settings_take_conf_defaults_and_overrides(base_conf) -> None:
    s = settings_from_conf(base_conf)
    assert s.topic == base_conf.get("kafka.topics.events.name")
    assert s.bootstrap_servers == base_conf.get("kafka.bootstrap_servers")
    assert s.rate == float(base_conf.get("producer.rate"))
    assert s.duration_s == float(base_conf.get("producer.duration_s")) and s.count is None
    assert s.shares.duplicate == float(base_conf.get("producer.duplicate_share"))
    s = settings_from_conf(base_conf, rate=0, count=10, malformed_share=0.5)
    assert (s.rate, s.count, s.duration_s, s.shares.malformed) == (0, 10, None, 0.5)
    assert settings_from_conf(base_conf, rate=200, duration_s=3).planned_total() == 600


# ---------------------------------------------------------------- real broker


def _consume_all(bootstrap: str, topic: str, expected: int, timeout_s: float = 30) -> list[Any]:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, group_id=None, consumer_timeout_ms=3000)
    records: list[Any] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(records) < expected and time.monotonic() < deadline:
            records.extend(consumer)  # stops after consumer_timeout_ms without a message
        # Anything beyond the expected count would be an unplanned extra message.
        records.extend(consumer)
    finally:
        consumer.close()
    return records


@pytest.mark.integration
def test_producer_to_broker_to_consumer_round_trip(base_conf, kafka_broker, kafka_topic) -> None:
    n = 400  # with these shares: 20 late, 40 duplicates, 20 malformed, 320 valid
    settings = settings_from_conf(base_conf, topic=kafka_topic, bootstrap_servers=kafka_broker,
                                  rate=0, count=n, late_share=0.05, duplicate_share=0.10,
                                  malformed_share=0.05, seed=11)
    sent: list[Message] = []
    started = time.time()
    report = produce(settings, synthetic_population(60, seed=11), on_message=sent.append)

    assert report.errors == 0 and report.sent == n
    assert report.by_kind == {"valid": 320, "late": 20, "duplicate": 40, "malformed": 20}

    records = _consume_all(kafka_broker, kafka_topic, n)
    assert len(records) == n
    assert Counter(r.value for r in records) == Counter(m.value for m in sent)

    # One person, one partition; and within it their messages keep the order they were sent in.
    partitions_of_key: dict[bytes, set[int]] = defaultdict(set)
    for r in records:
        partitions_of_key[r.key].add(r.partition)
    assert all(len(p) == 1 for p in partitions_of_key.values())
    assert all(re.fullmatch(rb"C\d{7}", key) for key in partitions_of_key)
    in_partition_order = defaultdict(list)
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        in_partition_order[r.key].append(r.value)
    in_send_order = defaultdict(list)
    for m in sent:
        in_send_order[m.key].append(m.value)
    assert in_partition_order == in_send_order

    # Duplicates: the same event_id (and the same bytes) arrives again, 40 times in all.
    readable = [(r, json.loads(r.value)) for r in records if not violations(r.value, time.time())]
    copies = defaultdict(list)
    for r, env in readable:
        copies[env["event_id"]].append(r)
    assert sum(len(c) - 1 for c in copies.values()) == 40
    for same in copies.values():
        assert len({(r.key, r.value, r.partition) for r in same}) == 1

    # Valid and late messages parse back to the very dicts that were sent.
    by_id = {env["event_id"]: env for _, env in readable}
    for m in sent:
        if m.kind in ("valid", "late"):
            assert by_id[m.event_id] == m.envelope
    late = [m for m in sent if m.kind == "late"]
    assert all(started - epoch(m.envelope["event_time"]) >= 59 for m in late)

    # Exactly the malformed ones fail the contract, each in its tagged way.
    bad = [r for r in records if violations(r.value, time.time())]
    assert len(bad) == 20
    tagged = {m.value: m.flaw for m in sent if m.kind == "malformed"}
    for r in bad:
        assert violations(r.value, time.time())[0].partition(":")[0] == \
            tagged[r.value].partition(":")[0]


@pytest.mark.integration
def test_paced_run_sends_rate_times_duration(base_conf, kafka_broker, kafka_topic) -> None:
    # How closely the achieved rate holds is measured in `make bench`, not asserted here.
    settings = settings_from_conf(base_conf, topic=kafka_topic, bootstrap_servers=kafka_broker,
                                  rate=400, duration_s=1.5)
    report = produce(settings, synthetic_population(100, seed=2))
    assert report.errors == 0
    assert report.sent == 600  # rate × duration


@pytest.mark.integration
def test_cli_sends_and_reports(kafka_broker, kafka_topic, capsys) -> None:
    from jobs.produce_events import main

    code = main(["--topic", kafka_topic, "--bootstrap", kafka_broker, "--rate", "0",
                 "--count", "50", "--customers", "10", "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["sent"] == 50 and report["errors"] == 0 and report["rate"] > 0
    assert len(_consume_all(kafka_broker, kafka_topic, 50)) == 50


@pytest.mark.integration
def test_a_missing_topic_is_refused_not_waited_on(base_conf, kafka_broker) -> None:
    settings = settings_from_conf(base_conf, topic="test.no-such-topic",
                                  bootstrap_servers=kafka_broker, rate=0, count=5)
    with pytest.raises(ProducerError, match="not found"):
        produce(settings, synthetic_population(5, seed=0))
