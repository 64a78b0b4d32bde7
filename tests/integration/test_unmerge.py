"""Reversible merges (issue 15 item 2): merge → unmerge gives what a lakehouse that never
merged the two people holds.

Two people: Ann (customer C1, ann@x.com) and Bob (customer C2, phone +33612345678). Batch 2
brings one web visit carrying Ann's e-mail and Bob's phone, which merges them, and Bob's phone
with a device never seen before, which therefore lands on the survivor.
The undo is ``profilake-unmerge``'s run; then a real API process (real Redis) serves the result
and starts a real ``profilake-unmerge`` child for a merge that cannot be undone yet. The oracle
resolves the same events, never having merged anyone, with the linking identifier never
linked to the other side from the start, and folds and exports them with the same code.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

import httpx
import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.export_chatbot import run_export
from pipelines.catalog import Catalog
from pipelines.config import Conf, relocated
from pipelines.identity.assign import assign_profiles
from pipelines.identity.graph import observations_from_events
from pipelines.identity.merge_ids import merge_id
from pipelines.identity.merge_log import AlreadyUndone, MergeRow, UnknownMerge
from pipelines.identity.never_link import without_never_linked
from pipelines.identity.params import IdentityParams
from pipelines.identity.resolve import apply_links, resolve
from pipelines.identity.schemas import LINKS, MERGES, empty_links
from pipelines.identity.store import identity_params
from pipelines.identity.unmerge import (
    merge_id_column,
    moved_links,
    moved_profiles,
    restored_links,
)
from pipelines.identity.unmerge_run import run_unmerge
from pipelines.ingest.flow import fold_params_from_conf as fold_params
from pipelines.privacy.subject import Subject
from pipelines.privacy.tables import TABLE_RULES
from pipelines.profiles.build import build_profiles, events_with_profiles
from pipelines.services.redis_server import client as redis_client
from pipelines.serving.export import build_export
from pipelines.serving.params import ExportParams
from pipelines.serving.publish import identifier_rows
from pipelines.serving.server import api_process
from tests.events_factory import event, events_df, ts

pytestmark = [pytest.mark.integration]

READ_KEY, ADMIN_KEY = "read-key-unmerge", "admin-key-unmerge"
ANN = {"customer_id": "C1", "email": "ann@x.com"}
BOB = {"customer_id": "C2", "phone": "+33612345678"}
EMAIL, PHONE, DEVICE = ("email", "ann@x.com"), ("phone", "+33612345678"), ("device_id", "dv-9")
T1, T2, T3 = ts("2026-09-01T10:00:00"), ts("2026-09-02T10:00:00"), ts("2026-09-03T10:00:00")
# T1, T2: when the two batches were ingested and resolved; T3: the profiles' as-of and the undo.


def _batches() -> list[tuple[datetime, list[dict[str, Any]]]]:
    def ev(eid, kind, at, ids, **props):
        return event(eid, kind, at, identifiers=ids, **props)

    return [
        (T1, [ev("a1", "order_placed", "2026-08-20T09:00:00", ANN, amount=10.0,
                 order_id="o1", currency="EUR"),
              ev("a2", "page_view", "2026-08-21T09:00:00", {"email": "ann@x.com"},
                 url="/shoes", category="shoes"),
              ev("b1", "order_placed", "2026-08-22T09:00:00", BOB, amount=20.0,
                 order_id="o2", currency="EUR"),
              ev("b2", "page_view", "2026-08-23T09:00:00", {"phone": "+33612345678"},
                 url="/books", category="books")]),
        # The linking record (Ann's e-mail and Bob's phone on one visit), and Bob's phone with
        # a device never seen before, which the merging batch creates straight into the
        # survivor.
        (T2, [ev("r1", "page_view", "2026-09-01T12:00:00",
                 {"email": "ann@x.com", "phone": "+33612345678"}, url="/toys", category="toys"),
              ev("p1", "add_to_cart", "2026-09-02T12:00:00",
                 {"phone": "+33612345678", "device_id": "dv-9"}, sku="k1", category="books",
                 quantity=1, unit_price=5.0, cart_value=5.0)]),
    ]


def _events(spark, batches=None):
    rows = [{**r, "ingested_at": at} for at, batch in (batches or _batches()) for r in batch]
    return events_df(spark, rows).drop("profile_id")


def _resolved(spark, params: IdentityParams, batches) -> tuple[DataFrame, DataFrame]:
    """Resolve the batches one after the other in memory: (links, merges)."""
    links, merges = empty_links(spark), spark.createDataFrame([], MERGES)
    for at, _rows in batches:
        result = resolve(observations_from_events(_events(spark, [(at, _rows)])), links,
                         params, now=at)
        links = apply_links(links, result.links).localCheckpoint()
        merges = merges.unionByName(result.merges)
    return links, merges


# A second, unrelated pair of merges: p_…02 ← p_…03, then p_…02 merged into p_…04 later. Its
# first merge cannot be undone before the second (the API's 202 → failed path).
P2, P3, P4 = (f"p_{n:016x}" for n in (2, 3, 4))
TANGLED = [(P2, P3, "email", "x@y.z", "e-x", T1, T1), (P4, P2, "email", "w@y.z", "e-w", T2, T1)]


def _lakehouse(spark, conf: Conf) -> Catalog:
    """The merged lakehouse: the two batches resolved one after the other (Ann and Bob merge
    in the second), the profiles the batch rebuild folds from them, and the chatbot export
    (+ Redis). Written without the gate: setup, not the code under test."""
    catalog = Catalog(conf)
    params = IdentityParams.from_conf(conf)
    links, merges = _resolved(spark, params, _batches())
    merges = merges.unionByName(spark.createDataFrame(TANGLED, MERGES))
    events = _events(spark)
    assigned, _none = events_with_profiles(events, links, params)
    profiles = build_profiles(assigned, links, T3, fold_params(conf)).withColumn(
        "version", F.lit(1).cast("bigint")).withColumn("updated_at", F.lit(T3))
    for name, df in (("events", events), ("identity_links", links),
                     ("identity_merges", merges), ("profiles", profiles)):
        df.write.format("delta").save(catalog.path(name))
    run_export(spark, conf, T3)
    return catalog


def _conf(redis_conf: Conf, root: str) -> Conf:
    conf = relocated(redis_conf, root)
    data = conf.to_dict()
    data["cache"]["prefix"] = f"u{uuid.uuid4().hex[:8]}"
    return Conf(data, conf.env, conf.files, conf.project_dir)


@pytest.fixture(scope="module")
def merged(spark, redis_conf, tmp_path_factory) -> dict[str, Any]:
    conf = _conf(redis_conf, str(tmp_path_factory.mktemp("merged") / "var"))
    catalog = _lakehouse(spark, conf)
    rows = spark.read.format("delta").load(catalog.path("identity_merges")).where(
        ~F.col("merged_profile_id").isin(P2, P3)).collect()
    assert len(rows) == 1, "the linking record merges Ann and Bob"
    m = rows[0]
    return {"conf": conf, "catalog": catalog, "row": m,
            "merge_id": merge_id(m.survivor_profile_id, m.merged_profile_id, m.record_id)}


@pytest.fixture(scope="module")
def undone(spark, merged) -> dict[str, Any]:
    """``profilake-unmerge``'s run, in this process (the API test starts the job itself)."""
    plan = run_unmerge(spark, merged["conf"], merged["merge_id"], T3, by="test",
                       reason="two people")
    return {**merged, "plan": plan}


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.fixture(scope="module")
def api_answers(undone, monkeypatch_module) -> dict[str, Any]:
    """A real API process on the undone lakehouse and real Redis; every answer it gave."""
    monkeypatch_module.setenv("PROFILAKE_ADMIN_API_KEYS", ADMIN_KEY)
    row, mid = undone["row"], undone["merge_id"]
    tangled = merge_id(P2, P3, "e-x")
    seen: dict[str, Any] = {}
    with api_process(undone["conf"], READ_KEY) as api, httpx.Client(base_url=api.url,
                                                                   timeout=30) as http:
        admin, reader = {"X-API-Key": ADMIN_KEY}, {"X-API-Key": READ_KEY}
        seen["no_key"] = http.post(f"/v1/merges/{tangled}/undo")
        seen["read_key"] = http.post(f"/v1/merges/{tangled}/undo", headers=reader)
        seen["unknown"] = http.post("/v1/merges/0123456789abcdef/undo", headers=admin)
        seen["undone_again"] = http.post(f"/v1/merges/{mid}/undo", headers=admin)
        seen["merges_of_survivor"] = http.get(
            f"/v1/profiles/{row.survivor_profile_id}/merges", headers=reader)
        seen["merges_of_p2"] = http.get(f"/v1/profiles/{P2}/merges", headers=admin)
        seen["started"] = http.post(f"/v1/merges/{tangled}/undo", headers=admin)
        seen["while_running"] = http.post(f"/v1/merges/{tangled}/undo", headers=admin)
        undo_id = seen["started"].json()["undo_id"]
        deadline = time.monotonic() + 60
        while True:
            state = http.get(f"/v1/undos/{undo_id}", headers=admin)
            if state.json()["status"] != "running" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        seen["finished"] = state
        seen["undo_as_reader"] = http.get(f"/v1/undos/{undo_id}", headers=reader)
        seen["no_such_undo"] = http.get("/v1/undos/u_0123456789abcdef", headers=admin)
        seen["bob_by_phone"] = http.get("/v1/lookup/phone/+33612345678", headers=reader)
        seen["bob_by_id"] = http.get(f"/v1/profiles/{row.merged_profile_id}", headers=reader)
        seen["ann_by_id"] = http.get(f"/v1/profiles/{row.survivor_profile_id}", headers=admin)
    return {**undone, "seen": seen, "tangled": tangled}


@pytest.fixture(scope="module")
def never_merged(spark, merged) -> dict[str, DataFrame]:
    """The oracle: the same events resolved in one go, never having merged anyone, with the
    linking identifier never linked to the merged side's identifier of the linking record
    (whichever side survived); profiles and export rows from the same fold and export."""
    row = merged["row"]
    linking = (row.id_type, row.id_value)
    partner = PHONE if linking == EMAIL else EMAIL
    params = replace(IdentityParams.from_conf(merged["conf"]),
                     never_link=((*linking, *partner),))
    links, merges = _resolved(spark, params, [(T2, [r for _, b in _batches() for r in b])])
    assert merges.isEmpty()
    assigned, _none = events_with_profiles(_events(spark), links, params)
    profiles = build_profiles(assigned, links, T3, fold_params(merged["conf"]))
    export = build_export(profiles.withColumn("version", F.lit(1).cast("bigint"))
                          .withColumn("updated_at", F.lit(T3)), None,
                          ExportParams.from_conf(merged["conf"]), exported_at=T3)
    return {"links": links, "profiles": profiles, "export": export}


def test_undo_endpoint_auth_and_shapes(api_answers):
    seen, row, mid = api_answers["seen"], api_answers["row"], api_answers["merge_id"]
    assert seen["no_key"].status_code == 401
    assert seen["read_key"].status_code == 403
    assert seen["unknown"].status_code == 404
    assert seen["undone_again"].status_code == 409
    assert seen["ann_by_id"].status_code == 200, "an admin key is a read key too"
    assert seen["merges_of_survivor"].json() == [{
        "merge_id": mid, "survivor_profile_id": row.survivor_profile_id,
        "merged_profile_id": row.merged_profile_id, "id_type": row.id_type,
        "merged_at": row.merged_at.isoformat() + "Z", "undone": True}]
    assert [(m["survivor_profile_id"], m["merged_profile_id"], m["undone"])
            for m in seen["merges_of_p2"].json()] == [(P2, P3, False), (P4, P2, False)]
    started = seen["started"]
    assert started.status_code == 202
    assert started.json() == {"undo_id": started.json()["undo_id"],
                              "merge_id": api_answers["tangled"], "status": "running"}
    assert seen["while_running"].status_code == 409
    finished = seen["finished"].json()
    assert {k: finished[k] for k in ("undo_id", "merge_id", "status")} == {
        "undo_id": started.json()["undo_id"], "merge_id": api_answers["tangled"],
        "status": "failed"}
    assert f"undo merge {merge_id(P4, P2, 'e-w')} first" in finished["error"]
    assert seen["undo_as_reader"].status_code == 403
    assert seen["no_such_undo"].status_code == 404


def test_unmerge_is_served(api_answers):
    seen, row, conf = api_answers["seen"], api_answers["row"], api_answers["conf"]
    bob = row.merged_profile_id if row.id_type == "email" else row.survivor_profile_id
    assert seen["bob_by_phone"].json()["profile_id"] == bob
    for who in ("bob_by_id", "ann_by_id"):
        assert seen[who].json().get("merged_from") is None
    assert seen["bob_by_id"].json()["profile_id"] == row.merged_profile_id
    prefix = str(conf.get("cache.prefix"))
    assert redis_client(conf).get(f"{prefix}:m:{row.merged_profile_id}") is None


def _pair(row) -> list[str]:
    return [row.survivor_profile_id, row.merged_profile_id]


def test_unmerge_equals_a_lakehouse_that_never_merged(spark, undone, never_merged):
    catalog, pair = undone["catalog"], _pair(undone["row"])
    # first_seen/last_seen are left out: the never-linked identifier did not count the
    # linking record in the oracle, while the undo keeps its row's seen range.
    cols = ["id_type", "id_value", "profile_id", "shared", "customer_ids", "origin_profile_id"]
    links = spark.read.format("delta").load(catalog.path("identity_links"))
    assert sorted(map(tuple, links.select(*cols).collect())) == sorted(
        map(tuple, never_merged["links"].select(*cols).collect()))

    want = never_merged["profiles"]
    got = spark.read.format("delta").load(catalog.path("profiles")).select(*want.columns)
    assert sorted(r.profile_id for r in got.collect()) == sorted(pair)
    assert {r.profile_id: r.asDict(recursive=True) for r in got.collect()} == {
        r.profile_id: r.asDict(recursive=True) for r in want.collect()}

    export = spark.read.format("delta").load(catalog.path("chatbot_export"))
    assert {r.profile_id: r.lookup_ids for r in export.collect()} == {
        r.profile_id: r.lookup_ids for r in never_merged["export"].collect()}
    idents = spark.read.format("delta").load(catalog.path("chatbot_identifiers"))
    assert {(r.lookup_key, r.profile_id) for r in idents.where(F.col("profile_id").isin(pair))
            .collect()} == {(r.lookup_key, r.profile_id)
                            for r in identifier_rows(never_merged["export"]).collect()}


def test_undo_is_recorded_and_the_log_names_it(spark, undone):
    catalog, mid, row = undone["catalog"], undone["merge_id"], undone["row"]
    rec = spark.read.format("delta").load(catalog.path("identity_unmerges")).collect()
    assert [(r.merge_id, r.survivor_profile_id, r.merged_profile_id, r.moved_identifiers,
             r.reason) for r in rec] == [(mid, *_pair(row), 2, "two people")]  # customer id + 1
    plan = undone["plan"]
    assert plan.later == [DEVICE], "first seen after the merge, resolved again"
    linking = (row.id_type, row.id_value)
    partner = PHONE if linking == EMAIL else EMAIL
    assert plan.rules == [(*linking, *partner)], "only the linking record carried both sides"
    assert f"  {linking[0]}:{linking[1]} is absent in records carrying {partner[0]}:" \
        f"{partner[1]}" in plan.lines()
    history = spark.sql(f"DESCRIBE HISTORY delta.`{catalog.path('identity_links')}`")
    assert any(mid in (r.userMetadata or "") for r in history.collect())


def test_replaying_the_linking_record_does_not_merge_again(spark, undone):
    catalog, conf = undone["catalog"], undone["conf"]
    events = spark.read.format("delta").load(catalog.path("events")).where("event_id = 'r1'")
    links = spark.read.format("delta").load(catalog.path("identity_links"))
    params = identity_params(spark, catalog, conf)
    result = resolve(observations_from_events(events), links, params, now=T3)
    assert result.merges.isEmpty()
    placed = assign_profiles(observations_from_events(events), links, params).first()
    assert placed.profile_id == undone["row"].merged_profile_id, "the linking visit stays with M"


def test_the_nightly_places_the_linking_record_by_the_rules_too(spark, undone):
    from pipelines.nightly.io import with_profile_ids

    catalog = undone["catalog"]
    events = spark.read.format("delta").load(catalog.path("events")).where("event_id = 'r1'")
    placed = with_profile_ids(spark, catalog, events).collect()
    assert [r.profile_id for r in placed] == [undone["row"].merged_profile_id]


def test_unknown_and_undone_merges_are_refused(spark, undone):
    with pytest.raises(AlreadyUndone, match="already undone"):
        run_unmerge(spark, undone["conf"], undone["merge_id"], T3, by="test")
    with pytest.raises(UnknownMerge, match="no merge 0123456789abcdef"):
        run_unmerge(spark, undone["conf"], "0123456789abcdef", T3, by="test")


def test_merge_id_column_is_merge_id(spark, merged):
    m = merged["row"]
    df = spark.createDataFrame([(m.survivor_profile_id, m.merged_profile_id, m.record_id)],
                               "survivor_profile_id string, merged_profile_id string, "
                               "record_id string")
    assert df.select(merge_id_column()).first()[0] == merged["merge_id"]


def test_a_never_link_rule_blocks_its_identifier_only_beside_the_other(spark):
    rows = [event("x1", "page_view", "2026-09-01T00:00:00", identifiers={"email": "a@x.com",
                                                                        "phone": "+3361"}),
            event("x2", "page_view", "2026-09-01T00:00:00", identifiers={"email": "a@x.com",
                                                                        "customer_id": "C9"})]
    obs = observations_from_events(events_df(spark, rows))
    kept = without_never_linked(obs, [("email", "a@x.com", "phone", "+3361")])
    got = {r.record_id: (r.identifiers.email, r.identifiers.phone, r.identifiers.customer_id)
           for r in kept.collect()}
    assert got == {"x1": (None, "+3361", None), "x2": ("a@x.com", None, "C9")}


def test_an_erasure_finds_the_never_link_rules_and_undos_of_the_person(spark, undone):
    catalog, row = undone["catalog"], undone["row"]
    rules = spark.read.format("delta").load(catalog.path("identity_never_link"))
    bob = Subject("phone", PHONE[1])
    nobody = Subject("email", "zoe@x.com", frozenset({"p_00000000000000ff"}))
    assert rules.where(TABLE_RULES["identity_never_link"](rules, bob)).count() == 1
    assert rules.where(TABLE_RULES["identity_never_link"](rules, nobody)).count() == 0
    undos = spark.read.format("delta").load(catalog.path("identity_unmerges"))
    merged_side = Subject("customer_id", "C0", frozenset({row.merged_profile_id}))
    assert undos.where(TABLE_RULES["identity_unmerges"](undos, merged_side)).count() == 1


def test_what_moves_back_is_m_and_what_was_merged_into_it_before(spark):
    s, m, p, q, z = (f"p_{n:016x}" for n in (10, 11, 12, 13, 14))
    rows = [(m, p, "email", "p@x", "e1", T1, T1),   # P into M before the merge: moves with M
            (s, m, "email", "m@x", "e2", T2, T1),   # the merge undone
            (s, q, "email", "q@x", "e3", T3, T1),   # Q into S after it: stays on S
            (p, z, "email", "z@x", "e0", T1, T1)]   # Z into P earlier, but that was undone
    merges = spark.createDataFrame(rows, MERGES)
    undos = spark.createDataFrame([(merge_id(p, z, "e0"),)], "merge_id string")
    row = MergeRow(merge_id(s, m, "e2"), s, m, "email", "m@x", "e2", T2, T1)
    assert moved_profiles(merges, undos, row) == sorted([m, p])
    assert moved_profiles(merges, None, row) == sorted([m, p, z])
    links = spark.createDataFrame(
        [("email", v, s, T1, T1, T1, T1, False, None, None, origin)
         for v, origin in (("m@x", m), ("p@x", p), ("q@x", q), ("s@x", s))], LINKS)
    moved = moved_links(links, row, [m, p])
    assert sorted(r.id_value for r in moved.collect()) == ["m@x", "p@x"]
    back = restored_links(moved, row, T3).collect()
    assert {(r.profile_id, r.profile_created_at, r.updated_at) for r in back} == {(m, T1, T3)}


def test_a_running_stream_honours_a_never_link_rule_added_between_batches(spark, base_conf,
                                                                           tmp_path):
    """The Delta lane's micro-batches (``process_batch``, one ``StreamContext`` as a running
    query keeps): Ann and Bob land apart; a never-link rule (Ann's e-mail, with Bob's phone)
    is added as profilake-unmerge adds it; then a record carrying both goes to Bob alone —
    the e-mail is absent in that record — and nobody is merged."""
    import json

    from pipelines.identity.never_link import NEVER_LINK
    from pipelines.identity.store import add_never_link
    from pipelines.stream.microbatch import StreamContext, process_batch

    conf = relocated(base_conf, str(tmp_path / "var"))
    catalog = Catalog(conf)
    ctx = StreamContext.from_conf(conf)
    kafka = ("key binary, value binary, topic string, partition int, offset long, "
             "timestamp timestamp")
    sent = datetime(2026, 9, 3, 12, 0, 0)

    def batch(batch_id: int, *records: tuple[str, dict[str, str]]) -> dict[str, Any]:
        rows = [(b"k", json.dumps({
            "event_id": eid, "event_type": "page_view", "event_time": "2026-09-03T11:00:00Z",
            "source": "web", "identifiers": ids, "schema_version": 1,
            "properties": {"url": "/p", "session_id": "s1"}}).encode(), "t", 0,
            batch_id * 10 + i, sent) for i, (eid, ids) in enumerate(records)]
        return process_batch(spark.createDataFrame(rows, kafka), batch_id, ctx)

    first = batch(0, ("s-ann", ANN), ("s-bob", BOB))
    assert first["new_events"] == 2 and first["merges"] == 0, first
    add_never_link(catalog, spark.createDataFrame(
        [(*EMAIL, *PHONE, "m" * 16, T3)], NEVER_LINK))

    second = batch(1, ("s-both", {"email": EMAIL[1], "phone": PHONE[1]}))
    assert second["new_events"] == 1 and second["merges"] == 0
    profiles = spark.read.format("delta").load(catalog.path("profiles")).collect()
    assert len(profiles) == 2
    by_customer = {p.identifiers["customer_id"][0]: p for p in profiles}
    assert by_customer["C2"].last_event_ids == ["s-both"]  # Bob's phone placed it
    assert by_customer["C1"].event_count == 1 and by_customer["C2"].event_count == 2
    assert "phone" not in by_customer["C1"].identifiers
    assert "email" not in by_customer["C2"].identifiers
