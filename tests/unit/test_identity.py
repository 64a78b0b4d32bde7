"""Identity resolution on small hand-built DataFrames (pipelines/identity).

Expected values come from the rules in docs/identity.md, worked out by hand: a new profile id
is "p_" + the first 16 hex digits of sha256 of the component's smallest "type:value", computed
here with hashlib, never with the code under test.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import random
from datetime import UTC, datetime, timedelta

import pytest

from pipelines.catalog import Catalog
from pipelines.identity import (
    IdentityParams,
    apply_links,
    assign_profiles,
    connected_components,
    empty_links,
    observations_from_events,
    pairwise_precision_recall,
    resolve,
    write_identity,
)
from pipelines.schemas.canonical import EVENT_LOG
from pipelines.schemas.events import IDENTIFIER_TYPES

OBS = (
    "record_id string, event_time timestamp, identifiers struct<"
    + ", ".join(f"{t}: string" for t in IDENTIFIER_TYPES)
    + ">"
)
PARAMS = IdentityParams(
    deny_list=("test@example.com", "+10000000000"),
    deny_patterns=(r"^(support|info|noreply)@",),
    max_customer_ids_per_identifier=2,
)
T0 = datetime(2026, 8, 1, tzinfo=UTC)
RUN1, RUN2, RUN3, RUN4 = (datetime(2026, 9, d, tzinfo=UTC) for d in (1, 2, 3, 4))


def pid(smallest_key: str) -> str:
    return "p_" + hashlib.sha256(smallest_key.encode()).hexdigest()[:16]


def local(moment: datetime) -> datetime:
    """What ``collect()`` returns for ``moment``: a naive datetime in the local time zone."""
    return datetime.fromtimestamp(moment.timestamp())


def at(hours: int) -> datetime:
    return T0 + timedelta(hours=hours)


def observations(spark, *records: tuple[str, int, dict[str, str]]):
    """(record_id, hours after T0, {identifier type: normalized value})."""
    rows = [(rid, at(h), tuple(ids.get(t) for t in IDENTIFIER_TYPES)) for rid, h, ids in records]
    return spark.createDataFrame(rows, OBS)


def by_key(links) -> dict[tuple[str, str], object]:
    return {(r.id_type, r.id_value): r for r in links.collect()}


def profiles(links) -> dict[tuple[str, str], str | None]:
    return {k: r.profile_id for k, r in by_key(links).items()}


def assigned(obs, links) -> dict[str, str | None]:
    return {r.record_id: r.profile_id for r in assign_profiles(obs, links, PARAMS).collect()}


def test_family_tablet_with_one_login_does_not_merge_the_anonymous_visitor(spark):
    """A device someone logged in on is weak: it links nobody when a record has a stronger
    identifier, and joins a profile only when every record carrying it resolved to that one
    profile."""
    obs = observations(
        spark,
        ("r1", 0, {"customer_id": "C1", "device_id": "tablet", "anonymous_id": "a-mum"}),
        ("r2", 1, {"device_id": "tablet", "anonymous_id": "a-kid"}),  # never logs in
        ("r3", 2, {"customer_id": "C2", "device_id": "phone", "anonymous_id": "a-dad"}),
        ("r4", 3, {"device_id": "phone", "anonymous_id": "a-dad"}),
    )
    links = profiles(resolve(obs, empty_links(spark), PARAMS, now=RUN1).links)
    assert links[("customer_id", "C1")] != links[("anonymous_id", "a-kid")]
    assert links[("device_id", "tablet")] is None  # two people behind it: no profile
    assert links[("device_id", "phone")] == links[("customer_id", "C2")]


def test_two_cookies_on_a_device_nobody_logged_in_on_stay_apart_by_default(spark):
    """K = 1: a second cookie makes the device weak, since two cookies and no login is also
    the shape of a library PC two strangers used. Records carrying the device alone share the
    device's own profile."""
    obs = observations(
        spark,
        ("r1", 0, {"device_id": "laptop", "anonymous_id": "a-old"}),
        ("r2", 5, {"device_id": "laptop", "anonymous_id": "a-new"}),
        ("r3", 6, {"device_id": "laptop"}),
    )
    links = resolve(obs, empty_links(spark), PARAMS, now=RUN1).links
    assert profiles(links) == {
        ("device_id", "laptop"): pid("device_id:laptop"),
        ("anonymous_id", "a-old"): pid("anonymous_id:a-old"),
        ("anonymous_id", "a-new"): pid("anonymous_id:a-new"),
    }
    assert assigned(obs, links) == {"r1": pid("anonymous_id:a-old"),
                                    "r2": pid("anonymous_id:a-new"),
                                    "r3": pid("device_id:laptop")}


def test_with_k_2_reset_cookies_on_a_device_nobody_logged_in_on_are_one_visitor(spark):
    """No login on the laptop and two anonymous ids, K = 2: the device links them."""
    obs = observations(
        spark,
        ("r1", 0, {"device_id": "laptop", "anonymous_id": "a-old"}),
        ("r2", 5, {"device_id": "laptop", "anonymous_id": "a-new"}),
    )
    params = dataclasses.replace(PARAMS, max_anonymous_ids_per_device=2)
    links = by_key(resolve(obs, empty_links(spark), params, now=RUN1).links)
    visitor = pid("anonymous_id:a-new")  # smallest of a-new, a-old, device_id:laptop
    assert {k: r.profile_id for k, r in links.items()} == {
        ("device_id", "laptop"): visitor,
        ("anonymous_id", "a-old"): visitor,
        ("anonymous_id", "a-new"): visitor,
    }
    assert links[("device_id", "laptop")].anonymous_ids == ["a-new", "a-old"]
    assert links[("anonymous_id", "a-old")].anonymous_ids is None  # kept on devices only


def test_a_device_with_more_than_k_anonymous_ids_merges_nobody(spark):
    """A library PC: three cookies, nobody logged in; K = 2, so three visitors."""
    obs = observations(
        spark, *[(f"r{i}", i, {"device_id": "pc", "anonymous_id": f"a-{i}"}) for i in (1, 2, 3)]
    )
    params = dataclasses.replace(PARAMS, max_anonymous_ids_per_device=2)
    links = by_key(resolve(obs, empty_links(spark), params, now=RUN1).links)
    visitors = {links[("anonymous_id", f"a-{i}")].profile_id for i in (1, 2, 3)}
    assert visitors == {pid(f"anonymous_id:a-{i}") for i in (1, 2, 3)}
    assert links[("device_id", "pc")].profile_id is None  # its records reach three profiles
    assert links[("device_id", "pc")].anonymous_ids == ["a-1", "a-2", "a-3"]  # K+1 kept


def test_a_login_on_a_device_stops_it_linking_new_cookies_in_later_batches(spark):
    """The device's link row remembers the login: a cookie first seen afterwards on it stays
    apart from the customer, as on a family tablet."""
    run1 = resolve(
        observations(spark, ("r1", 0, {"device_id": "tab", "anonymous_id": "a-1"})),
        empty_links(spark), PARAMS, now=RUN1,
    )
    first = pid("anonymous_id:a-1")
    run2 = resolve(
        observations(spark, ("r2", 1, {"customer_id": "C1", "device_id": "tab",
                                        "anonymous_id": "a-1"})),
        run1.links, PARAMS, now=RUN2,
    )
    after2 = apply_links(run1.links, run2.links)
    assert set(profiles(after2).values()) == {first}  # the login joined the visitor
    assert by_key(after2)[("device_id", "tab")].customer_ids == ["C1"]

    run3 = resolve(
        observations(spark, ("r3", 2, {"device_id": "tab", "anonymous_id": "a-2"})),
        after2, PARAMS, now=RUN3,
    )
    links = profiles(apply_links(after2, run3.links))
    assert links[("anonymous_id", "a-2")] == pid("anonymous_id:a-2")
    assert links[("customer_id", "C1")] == first
    assert run3.merges.count() == 0


def test_a_weak_device_places_only_records_that_carry_nothing_else(spark):
    """A library PC (three cookies, K = 1): each cookie's record stays with its own visitor,
    and only the records carrying the PC alone share the PC's profile — even where the PC's
    profile id sorts before a visitor's."""
    obs = observations(
        spark,
        *[(f"r{i}", i, {"device_id": "pc", "anonymous_id": f"b-{i}"}) for i in (1, 2, 3)],
        ("r8", 8, {"device_id": "pc"}),
        ("r9", 9, {"device_id": "pc"}),
    )
    links = resolve(obs, empty_links(spark), PARAMS, now=RUN1).links
    pc = pid("device_id:pc")  # its own component: the records carrying it alone
    assert profiles(links)[("device_id", "pc")] == pc
    assert assigned(obs, links) == {
        **{f"r{i}": pid(f"anonymous_id:b-{i}") for i in (1, 2, 3)}, "r8": pc, "r9": pc,
    }


def test_a_family_tablet_holding_a_customers_profile_never_places_another_visitor_there(spark):
    """The tablet's link row holds the mother's profile (she logged in on it); a child's
    anonymous visit on it stays the child's, whichever profile id sorts first."""
    mum = pid("anonymous_id:a-mum")
    kid = pid("anonymous_id:a-kid-1")
    assert kid > mum  # so "smallest profile id of the record" would pick the mother's
    run1 = resolve(
        observations(spark, ("r1", 0, {"customer_id": "C1", "device_id": "tab",
                                        "anonymous_id": "a-mum"})),
        empty_links(spark), PARAMS, now=RUN1,
    )
    obs = observations(
        spark,
        ("r2", 1, {"customer_id": "C1", "device_id": "tab"}),
        ("r3", 2, {"device_id": "tab", "anonymous_id": "a-kid-1"}),
    )
    links = apply_links(run1.links, resolve(obs, run1.links, PARAMS, now=RUN2).links)
    assert profiles(links)[("device_id", "tab")] == mum
    assert assigned(obs, links) == {"r2": mum, "r3": kid}


def test_transitive_chain_email_customer_id_device_is_one_profile(spark):
    obs = observations(
        spark,
        ("r1", 0, {"email": "ann@x.com", "customer_id": "C1"}),
        # A logged-in web event carries the browser's anonymous id and the device.
        ("r2", 1, {"customer_id": "C1", "device_id": "dev-1", "anonymous_id": "anon-1"}),
        ("r3", 2, {"device_id": "dev-1", "anonymous_id": "anon-1"}),
        ("r4", 3, {"customer_id": "C9"}),  # someone else
    )
    result = resolve(obs, empty_links(spark), PARAMS, now=RUN1)

    # Smallest "type:value" of {anonymous_id:anon-1, customer_id:C1, device_id:dev-1, email:…}.
    ann = pid("anonymous_id:anon-1")
    assert profiles(result.links) == {
        ("email", "ann@x.com"): ann,
        ("customer_id", "C1"): ann,
        ("device_id", "dev-1"): ann,
        ("anonymous_id", "anon-1"): ann,
        ("customer_id", "C9"): pid("customer_id:C9"),
    }
    row = by_key(result.links)[("customer_id", "C1")]
    assert (row.first_seen, row.last_seen) == (local(at(0)), local(at(1)))
    assert row.profile_created_at == row.updated_at == local(RUN1)
    assert row.origin_profile_id == ann and row.shared is False
    assert result.merges.count() == 0
    assert assigned(obs, result.links) == {
        "r1": ann,
        "r2": ann,
        "r3": ann,
        "r4": pid("customer_id:C9"),
    }


@pytest.mark.parametrize(
    ("customers", "expect_shared"),
    [(2, False), (3, True)],  # N = 2: two customer ids may be one person, three are not
)
def test_an_identifier_seen_with_more_than_n_customer_ids_never_merges_people(
    spark, customers, expect_shared
):
    records = [
        (f"r{i}", i, {"phone": "+15550000000", "customer_id": f"C{i}"})
        for i in range(1, customers + 1)
    ]
    records.append(("r-phone-only", 9, {"phone": "+15550000000"}))
    obs = observations(spark, *records)
    result = resolve(obs, empty_links(spark), PARAMS, now=RUN1)

    links = by_key(result.links)
    kiosk = links[("phone", "+15550000000")]
    assert kiosk.shared is expect_shared
    assert kiosk.customer_ids == [f"C{i}" for i in range(1, customers + 1)]
    people = {links[("customer_id", f"C{i}")].profile_id for i in range(1, customers + 1)}
    got = assigned(obs, result.links)
    if expect_shared:
        assert people == {pid(f"customer_id:C{i}") for i in range(1, customers + 1)}
        assert kiosk.profile_id is None and kiosk.origin_profile_id is None
        # The phone is all this record has: no profile, the caller quarantines it.
        assert got["r-phone-only"] is None
    else:
        assert people == {pid("customer_id:C1")}
        assert got["r-phone-only"] == pid("customer_id:C1")


def test_fan_out_counts_the_customer_ids_remembered_in_the_links(spark):
    first = observations(
        spark,
        ("r1", 0, {"phone": "+15550000001", "customer_id": "C1"}),
        ("r2", 1, {"phone": "+15550000001", "customer_id": "C2"}),
    )
    run1 = resolve(first, empty_links(spark), PARAMS, now=RUN1)
    family = pid("customer_id:C1")
    assert set(profiles(run1.links).values()) == {family}  # two ids: allowed by N = 2

    # A third customer id on the shared line: 3 > N across history, so it joins nobody now.
    second = observations(spark, ("r3", 2, {"phone": "+15550000001", "customer_id": "C3"}))
    run2 = resolve(second, run1.links, PARAMS, now=RUN2)
    links = by_key(apply_links(run1.links, run2.links))
    assert links[("customer_id", "C3")].profile_id == pid("customer_id:C3")
    assert links[("phone", "+15550000001")].shared is True
    assert links[("phone", "+15550000001")].profile_id is None
    assert links[("phone", "+15550000001")].origin_profile_id == family  # where it came from
    assert run2.merges.count() == 0

    # Shared is sticky: a later record with one customer id does not un-share it.
    third = observations(spark, ("r4", 3, {"phone": "+15550000001", "customer_id": "C4"}))
    run3 = resolve(third, apply_links(run1.links, run2.links), PARAMS, now=RUN3)
    assert by_key(run3.links)[("phone", "+15550000001")].shared is True
    assert by_key(run3.links)[("customer_id", "C4")].profile_id == pid("customer_id:C4")


def test_denied_identifiers_never_merge_people_and_get_no_link(spark):
    obs = observations(
        spark,
        ("r1", 0, {"email": "test@example.com", "customer_id": "C1"}),
        ("r2", 1, {"email": "test@example.com", "customer_id": "C2"}),
        ("r3", 2, {"email": "support@shop.io", "customer_id": "C1"}),  # deny pattern
        ("r4", 3, {"email": "support@shop.io", "customer_id": "C2"}),
        ("r5", 4, {"email": "test@example.com", "phone": "+10000000000"}),
    )
    result = resolve(obs, empty_links(spark), PARAMS, now=RUN1)

    assert profiles(result.links) == {
        ("customer_id", "C1"): pid("customer_id:C1"),
        ("customer_id", "C2"): pid("customer_id:C2"),
    }
    got = assigned(obs, result.links)
    assert got["r1"] == got["r3"] == pid("customer_id:C1")
    assert got["r2"] == got["r4"] == pid("customer_id:C2")
    assert got["r5"] is None  # only denied identifiers


def test_a_grown_component_keeps_its_id_and_creation_time(spark):
    run1 = resolve(
        observations(spark, ("r1", 0, {"email": "ann@x.com", "customer_id": "C1"})),
        empty_links(spark),
        PARAMS,
        now=RUN1,
    )
    ann = pid("customer_id:C1")
    assert set(profiles(run1.links).values()) == {ann}

    # The new device's smallest key would mint another id; the grown component keeps ann.
    grown = observations(spark, ("r2", 5, {"customer_id": "C1", "device_id": "a-device"}))
    run2 = resolve(grown, run1.links, PARAMS, now=RUN2)

    # Only what the batch touched comes back: the e-mail row is unchanged and not re-sent.
    touched = by_key(run2.links)
    assert set(touched) == {("customer_id", "C1"), ("device_id", "a-device")}
    assert {r.profile_id for r in touched.values()} == {ann}
    assert {r.profile_created_at for r in touched.values()} == {local(RUN1)}
    c1 = touched[("customer_id", "C1")]
    assert (c1.first_seen, c1.last_seen, c1.updated_at) == (local(at(0)), local(at(5)), local(RUN2))
    assert set(profiles(apply_links(run1.links, run2.links)).values()) == {ann}
    assert run2.merges.count() == 0


def test_joining_two_profiles_keeps_the_older_id_and_records_one_merge(spark):
    run1 = resolve(
        observations(spark, ("r1", 0, {"customer_id": "C001", "email": "ann@x.com"})),
        empty_links(spark),
        PARAMS,
        now=RUN1,
    )
    links1 = run1.links
    run2 = resolve(
        observations(
            spark,
            ("r2", 1, {"customer_id": "C002", "device_id": "dev-2", "phone": "+4915112345678"}),
        ),
        links1,
        PARAMS,
        now=RUN2,
    )
    links2 = apply_links(links1, run2.links)
    older, younger = pid("customer_id:C001"), pid("customer_id:C002")
    # Precondition of the test: the younger id sorts first, so only age can pick the older.
    assert younger < older

    linking = observations(spark, ("r3", 2, {"email": "ann@x.com", "phone": "+4915112345678"}))
    run3 = resolve(linking, links2, PARAMS, now=RUN3)
    links3 = apply_links(links2, run3.links)

    merges = [r.asDict() for r in run3.merges.collect()]
    # r3 carries the younger profile's phone and, outside it, the older one's e-mail.
    assert merges == [
        {
            "survivor_profile_id": older,
            "merged_profile_id": younger,
            "id_type": "email",
            "id_value": "ann@x.com",
            "record_id": "r3",
            "merged_at": local(RUN3),
            "merged_profile_created_at": local(RUN2),
        }
    ]
    rows = by_key(links3)
    assert {k: r.profile_id for k, r in rows.items()} == {
        ("customer_id", "C001"): older,
        ("email", "ann@x.com"): older,
        ("customer_id", "C002"): older,
        ("device_id", "dev-2"): older,  # not in r3: repointed all the same
        ("phone", "+4915112345678"): older,
    }
    assert {r.profile_created_at for r in rows.values()} == {local(RUN1)}
    assert {k: r.origin_profile_id for k, r in rows.items()} == {
        ("customer_id", "C001"): older,
        ("email", "ann@x.com"): older,
        ("customer_id", "C002"): younger,
        ("device_id", "dev-2"): younger,
        ("phone", "+4915112345678"): younger,
    }
    assert rows[("device_id", "dev-2")].updated_at == local(RUN3)
    assert rows[("customer_id", "C001")].updated_at == local(RUN1)

    # Replaying the linking event: nothing left to merge, nothing changes.
    replay = resolve(linking, links3, PARAMS, now=RUN4)
    assert replay.merges.count() == 0
    assert sorted(apply_links(links3, replay.links).collect()) == sorted(links3.collect())


def test_created_at_tie_is_broken_by_the_smaller_profile_id(spark):
    run1 = resolve(
        observations(spark, ("r1", 0, {"customer_id": "C1"}), ("r2", 1, {"customer_id": "C2"})),
        empty_links(spark),
        PARAMS,
        now=RUN1,
    )
    both = observations(
        spark,
        ("r3", 2, {"customer_id": "C1", "email": "x@y.com"}),
        ("r4", 3, {"customer_id": "C2", "email": "x@y.com"}),
    )
    run2 = resolve(both, run1.links, PARAMS, now=RUN2)
    # Same created_at: the smaller id survives (p_419b… for C1 < p_9892… for C2).
    c1, c2 = pid("customer_id:C1"), pid("customer_id:C2")
    assert c1 < c2
    merge = run2.merges.collect()
    assert [
        (m.survivor_profile_id, m.merged_profile_id, m.id_type, m.id_value, m.record_id)
        for m in merge
    ] == [(c1, c2, "email", "x@y.com", "r4")]


def test_replaying_the_same_observations_changes_nothing(spark):
    obs = observations(
        spark,
        ("r1", 0, {"email": "ann@x.com", "customer_id": "C1"}),
        ("r2", 1, {"email": "ann@x.com", "device_id": "dev-1"}),
        ("r3", 2, {"device_id": "kiosk", "customer_id": "C1"}),
        ("r4", 3, {"device_id": "kiosk", "customer_id": "C2"}),
        ("r5", 4, {"device_id": "kiosk", "customer_id": "C3"}),
        ("r6", 5, {"email": "test@example.com", "customer_id": "C3"}),
    )
    first = resolve(obs, empty_links(spark), PARAMS, now=RUN1).links
    again = resolve(obs, first, PARAMS, now=RUN2)
    assert again.merges.count() == 0
    assert sorted(apply_links(first, again.links).collect()) == sorted(first.collect())
    assert sorted(again.links.collect()) == sorted(first.collect())  # every row re-sent as is


def test_new_profile_ids_are_deterministic_across_runs(spark):
    obs = observations(
        spark,
        ("r1", 0, {"email": "bob@x.com", "phone": "+33612345678"}),
        ("r2", 1, {"social_handle": "x:bob", "email": "bob@x.com"}),
    )
    first = resolve(obs, empty_links(spark), PARAMS, now=RUN1)
    second = resolve(obs, empty_links(spark), PARAMS, now=RUN3)
    # Smallest of email:bob@x.com, phone:+33612345678, social_handle:x:bob.
    assert set(profiles(first.links).values()) == {pid("email:bob@x.com")}
    assert profiles(first.links) == profiles(second.links)


def test_observations_from_events_selects_the_record_columns(spark):
    events = spark.createDataFrame(
        [
            (
                "e1",
                "page_view",
                at(0),
                "web",
                ("C1", None, None, None, None, None),
                None,
                None,
                None,
                None,
                None,
            )
        ],
        EVENT_LOG,
    )
    row = observations_from_events(events).collect()[0]
    assert (row.record_id, row.event_time, row.identifiers.customer_id) == (
        "e1",
        local(at(0)),
        "C1",
    )


def test_identity_params_come_from_conf(conf):
    params = IdentityParams.from_conf(conf)
    assert "test@example.com" in params.deny_list
    assert "+10000000000" in params.deny_list  # quoted in YAML: a phone, not a number
    assert params.max_customer_ids_per_identifier == 1  # see the note in conf/base.yaml
    assert params.max_anonymous_ids_per_device == 1  # see the note in conf/base.yaml
    assert params.profile_id_prefix == "p_"


def test_connected_components_agree_with_union_find(spark):
    rng = random.Random(7)
    nodes = [f"n{rng.getrandbits(32):08x}" for _ in range(300)]
    edges = [(rng.choice(nodes), rng.choice(nodes)) for _ in range(260)]
    # Independent reference: union-find in plain Python, labelled by each set's smallest node.
    parent = {n: n for pair in edges for n in pair}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[str, set[str]] = {}
    for n in parent:
        groups.setdefault(find(n), set()).add(n)
    expected = {n: min(g) for g in groups.values() for n in g if len(g) > 1}

    result = connected_components(spark.createDataFrame(edges, "src string, dst string"))
    got = {r.node: r.component for r in result.labels.collect()}
    assert got == expected


def test_a_long_chain_converges_with_checkpointing(spark, tmp_path, caplog):
    # e0 - a0 - e1 - a1 - … : 1,000 e-mails and 1,000 anonymous ids, diameter ~2,000, names in
    # random order so the chain is no sorted list.
    rng = random.Random(11)
    names = [f"{rng.getrandbits(48):012x}" for _ in range(2000)]
    records = []
    for k in range(1000):
        records.append(
            (
                f"a{k}",
                k,
                {"email": f"{names[2 * k]}@x.com", "anonymous_id": f"a-{names[2 * k + 1]}"},
            )
        )
        if k < 999:
            records.append(
                (
                    f"b{k}",
                    k,
                    {"anonymous_id": f"a-{names[2 * k + 1]}", "email": f"{names[2 * k + 2]}@x.com"},
                )
            )
    spark.sparkContext.setCheckpointDir(str(tmp_path / "checkpoints"))
    caplog.set_level(logging.INFO, logger="pipelines.identity.components")

    result = resolve(
        observations(spark, *records), empty_links(spark), PARAMS, now=RUN1, checkpoint="reliable"
    )

    assert result.links.count() == 2000
    assert result.links.select("profile_id").distinct().count() == 1
    iterations = [r.args[0] for r in caplog.records if "converged" in r.getMessage()]
    assert iterations and iterations[0] > PARAMS.checkpoint_every  # lineage was cut mid-loop


def test_pairwise_precision_recall_by_hand(spark):
    predicted = spark.createDataFrame(
        [
            ("r1", "A"),
            ("r2", "A"),
            ("r3", "A"),
            ("r4", "B"),
            ("r5", "B"),
            ("r6", "C"),
            ("r7", None),
        ],
        "record_id string, profile_id string",
    )
    truth = spark.createDataFrame(
        [("r1", "X"), ("r2", "X"), ("r3", "Y"), ("r4", "Y"), ("r5", "Y"), ("r6", "Y"), ("r7", "Y")],
        "record_id string, person_id string",
    )
    # Contingency: A∩X=2 (r1,r2), A∩Y=1 (r3), B∩Y=2 (r4,r5), C∩Y=1 (r6), r7 alone∩Y=1.
    # TP = C(2,2)+C(1,2)+C(2,2)+C(1,2)+C(1,2) = 1+0+1+0+0 = 2
    # predicted pairs = C(3,2)+C(2,2)+C(1,2)+C(1,2) = 3+1+0+0 = 4  → precision 2/4 = 0.5
    # true pairs = C(2,2)+C(5,2) = 1+10 = 11                       → recall 2/11
    got = pairwise_precision_recall(predicted, truth)
    assert got == {
        "precision": 0.5,
        "recall": pytest.approx(2 / 11),
        "true_positive_pairs": 2,
        "predicted_pairs": 4,
        "true_pairs": 11,
        "records": 7,
    }


def _population(rng: random.Random, people: int) -> list[tuple[str, int, dict, str]]:
    """Generated records (record_id, hour, identifiers, person) with real-world messiness:
    several sources per person, anonymous web visits, QA records on test@example.com, tickets
    from a shared support inbox and family/kiosk devices used by several customers."""
    kiosks = [f"dev-kiosk-{i}" for i in range(people // 20)]
    out = []
    for p in range(people):
        person = f"P{p}"
        cid, email = f"C{p:05d}", f"user{p}@mail.example"
        phone = f"+4917{p:08d}" if rng.random() < 0.7 else None
        devices = [f"dev-{p}-{i}" for i in range(rng.randint(1, 2))]
        anon = f"anon-{p}"
        n = 0

        def add(ids: dict, person: str = person) -> None:
            nonlocal n
            n += 1
            out.append((f"{person}-{n}", rng.randrange(2000), ids, person))

        add({"customer_id": cid, "email": email, "phone": phone})  # CRM
        for _ in range(rng.randint(0, 3)):
            add({"customer_id": cid, "email": email})  # orders
        for device in devices:
            add({"customer_id": cid, "device_id": device, "anonymous_id": anon})  # login
            add({"device_id": device, "anonymous_id": anon})  # anonymous visit
        if rng.random() < 0.3:
            add({"email": email, "phone": phone})  # support ticket
        if rng.random() < 0.2:
            add({"email": "test@example.com", "customer_id": cid})  # QA record
        if rng.random() < 0.2:
            add({"email": "support@mail.example", "customer_id": cid})  # agent's inbox
        if kiosks and rng.random() < 0.3:
            add({"device_id": rng.choice(kiosks), "customer_id": cid})
    return out


def test_quality_on_generated_data_meets_the_bar(spark):
    rng = random.Random(3)
    records = _population(rng, 150)
    obs = observations(spark, *[(rid, h, ids) for rid, h, ids, _ in records])
    truth = spark.createDataFrame(
        [(rid, person) for rid, _, _, person in records], "record_id string, person_id string"
    )
    links = resolve(obs, empty_links(spark), PARAMS, now=RUN1).links

    got = pairwise_precision_recall(assign_profiles(obs, links, PARAMS), truth)

    assert got["precision"] >= 0.995 and got["recall"] >= 0.99, got


def test_write_identity_lands_links_and_merges_through_the_gate(spark, conf):
    from delta.tables import DeltaTable

    catalog = Catalog(conf)
    run1 = resolve(
        observations(spark, ("r1", 0, {"customer_id": "C1"}), ("r2", 1, {"customer_id": "C2"})),
        empty_links(spark),
        PARAMS,
        now=RUN1,
    )
    reports = write_identity(catalog, run1)
    assert set(reports) == {"identity_links"}  # no merges: nothing appended
    stored = spark.read.format("delta").load(catalog.path("identity_links"))
    # …but the merges table exists, empty, so docs/identity.md's audit query runs.
    no_merges = spark.read.format("delta").load(catalog.path("identity_merges"))
    assert no_merges.columns == [
        "survivor_profile_id", "merged_profile_id", "id_type", "id_value", "record_id",
        "merged_at", "merged_profile_created_at",
    ]
    assert no_merges.count() == 0
    no_merges.createOrReplaceTempView("identity_merges")
    stored.createOrReplaceTempView("identity_links")
    audit = spark.sql(
        "SELECT m.* FROM identity_merges m JOIN identity_links l"
        " ON l.id_type = m.id_type AND l.id_value = m.id_value WHERE l.shared"
    )
    assert audit.collect() == []

    run2 = resolve(
        observations(
            spark,
            ("r3", 2, {"customer_id": "C1", "email": "x@y.com"}),
            ("r4", 3, {"customer_id": "C2", "email": "x@y.com"}),
        ),
        stored,
        PARAMS,
        now=RUN2,
    )
    reports = write_identity(catalog, run2)
    assert reports["identity_merges"].rows_written == 1
    assert reports["identity_links"].rows_quarantined == 0

    links = DeltaTable.forPath(spark, catalog.path("identity_links")).toDF()
    assert links.count() == 3
    assert set(profiles(links).values()) == {pid("customer_id:C1")}
    merges = spark.read.format("delta").load(catalog.path("identity_merges")).collect()
    assert [(m.survivor_profile_id, m.merged_profile_id) for m in merges] == [
        (pid("customer_id:C1"), pid("customer_id:C2"))
    ]


def test_a_links_table_written_before_anonymous_ids_existed_is_upgraded(spark, conf):
    """Tables from before the device limit have no anonymous_ids column: resolve reads it as
    null and write_identity adds it, instead of failing the MERGE."""
    catalog = Catalog(conf)
    old = resolve(observations(spark, ("r1", 0, {"device_id": "d", "anonymous_id": "a-1"})),
                  empty_links(spark), PARAMS, now=RUN1).links.drop("anonymous_ids")
    old.write.format("delta").save(catalog.path("identity_links"))

    stored = spark.read.format("delta").load(catalog.path("identity_links"))
    run2 = resolve(observations(spark, ("r2", 1, {"device_id": "d", "anonymous_id": "a-2"})),
                   stored, PARAMS, now=RUN2)
    write_identity(catalog, run2)

    links = by_key(spark.read.format("delta").load(catalog.path("identity_links")))
    assert links[("device_id", "d")].anonymous_ids == ["a-2"]  # a-1 was never remembered
    assert links[("anonymous_id", "a-2")].profile_id == pid("anonymous_id:a-1")


def test_events_with_profiles_splits_the_log_by_linked_identifiers(spark):
    """Every event of the log lands once on one side: with the profile its identifiers link
    to, or without one when none of them is linked (deny-listed, or never resolved)."""
    from pipelines.profiles.build import events_with_profiles

    resolved = observations(
        spark, ("o1", 0, {"customer_id": "c1", "email": "a@x.com"}), ("o2", 1, {"email": "b@x.com"})
    )
    links = resolve(resolved, empty_links(spark), PARAMS, now=RUN1).links
    log = observations(
        spark,
        ("e1", 2, {"email": "a@x.com"}),
        ("e2", 3, {"customer_id": "c1"}),
        ("e2", 3, {"customer_id": "c1"}),  # the same event twice: both rows keep it
        ("e3", 4, {"email": "test@example.com"}),  # deny-listed
        ("e4", 5, {"email": "never-seen@x.com"}),  # not in the links
        ("e5", 6, {"email": "b@x.com", "phone": "+15550001111"}),  # one linked identifier
    ).withColumnRenamed("record_id", "event_id")
    with_profile, without = events_with_profiles(log, links, PARAMS)
    assert sorted((r.event_id, r.profile_id) for r in with_profile.collect()) == [
        ("e1", pid("customer_id:c1")),
        ("e2", pid("customer_id:c1")),
        ("e2", pid("customer_id:c1")),
        ("e5", pid("email:b@x.com")),
    ]
    assert sorted(r.event_id for r in without.collect()) == ["e3", "e4"]
    assert "profile_id" not in without.columns
