"""The linkable groups the identity scores judge recall against (pipelines/identity/evaluation.py):
records of one person joined by chains of usable identifiers, and the strongly linkable ones,
the same without weak identifiers. Checked by hand and against the connected components of the
record–identifier graph (pipelines/identity/components.py), the definition the groups had
before they were computed person by person."""

from __future__ import annotations

import random

from pyspark.sql import functions as F

from pipelines.identity.components import connected_components
from pipelines.identity.evaluation import group_records, linkable_groups
from pipelines.schemas.events import IDENTIFIER_TYPES

RECORDS = (
    "record_id string, person_id string, identifiers struct<"
    + ", ".join(f"{t}: string" for t in IDENTIFIER_TYPES) + ">"
)
TRUTH = "id_type string, id_value string, shared boolean, deny_listed boolean"
WEAK = "id_type string, id_value string"


def _record(record_id: str, person: str, **ids: str) -> tuple:
    return (record_id, person, tuple(ids.get(t) for t in IDENTIFIER_TYPES))


def _partition(rows) -> set[frozenset[str]]:
    groups: dict[str, set[str]] = {}
    for record_id, group in rows:
        groups.setdefault(group, set()).add(record_id)
    return {frozenset(g) for g in groups.values()}


def _partitions(groups) -> tuple[set[frozenset[str]], set[frozenset[str]]]:
    """(linkable, strongly linkable) partitions of ``linkable_groups``' rows."""
    rows = groups.collect()
    return (_partition((r.record_id, r.linkable) for r in rows),
            _partition((r.record_id, r.strongly_linkable) for r in rows))


def test_group_records_joins_records_through_shared_identifiers_transitively():
    rows = [("r3", "phone:2"), ("r1", "email:a"), ("r2", "email:a"), ("r2", "phone:2"),
            ("r4", "email:b")]

    got = group_records("ann", rows)

    assert got == {"r1": "ann\u0000r1", "r2": "ann\u0000r1", "r3": "ann\u0000r1",
                   "r4": "ann\u0000r4"}


def test_linkable_groups_by_hand(spark):
    records = spark.createDataFrame([
        _record("ann/1", "ann", email="a@x.com"),
        _record("ann/2", "ann", email="a@x.com", phone="+1555"),
        _record("ann/3", "ann", phone="+1555"),
        _record("ann/4", "ann", email="a@x.com", device_id="family-tablet"),
        _record("ann/5", "ann", device_id="family-tablet"),  # shared: joins nothing
        _record("ann/6", "ann", email="help@x.com"),  # deny-listed: joins nothing
        _record("ann/7", "ann", email="help@x.com"),
        _record("ann/8", "ann"),  # no identifier at all
        # A device Ann logged in on (weak): it joins ann/9 and ann/10 only in the linkable
        # groups; ann/10 also carries her phone, so its strong group is ann/1's.
        _record("ann/9", "ann", device_id="ann-phone"),
        _record("ann/10", "ann", device_id="ann-phone", phone="+1555"),
        # Bob's record carries Ann's address (a typo in a form): the truth's persons are
        # never joined, whatever they share.
        _record("bob/1", "bob", email="a@x.com"),
        _record("bob/2", "bob", device_id="family-tablet"),
    ], RECORDS)
    truth = spark.createDataFrame([
        ("device_id", "family-tablet", True, False), ("email", "help@x.com", False, True),
        ("email", "a@x.com", False, False), ("phone", "+1555", False, False),
        ("device_id", "ann-phone", False, False),
    ], TRUTH)
    weak = spark.createDataFrame([("device_id", "ann-phone")], WEAK)

    linkable, strongly = _partitions(linkable_groups(records, truth, weak))

    apart = {frozenset({r}) for r in ("ann/5", "ann/6", "ann/7", "ann/8", "bob/1", "bob/2")}
    assert linkable == apart | {
        frozenset({"ann/1", "ann/2", "ann/3", "ann/4", "ann/9", "ann/10"})}
    assert strongly == apart | {
        frozenset({"ann/1", "ann/2", "ann/3", "ann/4", "ann/10"}), frozenset({"ann/9"})}
    # Without weak identifiers the two groupings are the same.
    assert _partitions(linkable_groups(records, truth)) == (linkable, linkable)


def _components(spark, records, rows, unusable) -> set[frozenset[str]]:
    """The records' groups as connected components of the record–identifier graph, the
    ``unusable`` identifiers left out."""
    edges = spark.createDataFrame(
        [(f"r:{rid}", f"i|{person}|{t}|{v}") for rid, person, ids in rows
         for t, v in zip(IDENTIFIER_TYPES, ids, strict=True)
         if v is not None and (t, v) not in unusable], "src string, dst string")
    labels = connected_components(edges).labels
    return _partition(
        records.select("record_id", F.concat(F.lit("r:"), "record_id").alias("node"))
        .join(labels, "node", "left")
        .select("record_id", F.coalesce("component", "node")).collect())


def test_linkable_groups_agree_with_connected_components_on_random_records(spark):
    """Small identifier pools so records chain; a random set of weak devices; Arrow batches
    of 7 rows so persons' rows span batches."""
    rng = random.Random(12)
    pools = {t: [f"{t}-{i}" for i in range(12)] for t in ("email", "phone", "device_id")}
    rows = []
    for n in range(400):
        person = f"p{rng.randrange(25)}"
        ids = {t: rng.choice(pool) for t, pool in pools.items() if rng.random() < 0.4}
        rows.append(_record(f"r{n}", person, **ids))
    records = spark.createDataFrame(rows, RECORDS)
    truth = spark.createDataFrame(
        [(t, v, rng.random() < 0.1, rng.random() < 0.05) for t, pool in pools.items()
         for v in pool], TRUTH)
    unusable = {(t, v) for t, v, shared, denied in truth.collect() if shared or denied}
    weak = {("device_id", v) for v in rng.sample(pools["device_id"], 5)}
    expected = (_components(spark, records, rows, unusable),
                _components(spark, records, rows, unusable | weak))

    key = "spark.sql.execution.arrow.maxRecordsPerBatch"
    before = spark.conf.get(key)
    spark.conf.set(key, "7")
    try:
        got = _partitions(linkable_groups(records, truth, spark.createDataFrame(sorted(weak),
                                                                                 WEAK)))
    finally:
        spark.conf.set(key, before)

    assert got == expected
    assert expected[0] != expected[1]  # the weak devices did split groups
    assert any(len(g) > 2 for g in got[1])  # the data did chain records
