"""build_export on small frames: hashing, allow-list, consent, actions, real profile schema."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from pyspark.sql import functions as F

from pipelines.config import ConfigError
from pipelines.profiles.build import with_identifiers
from pipelines.profiles.finalize import finalize
from pipelines.profiles.state import fold_events
from pipelines.serving.export import KEY_FIELDS, build_export
from pipelines.serving.hashing import hmac_column, hmac_hex
from pipelines.serving.params import ActionRule, ExportParams
from tests.events_factory import event, events_df, ts
from tests.serving_data import ANNA, BOB, CARLA, people, profiles_df

NOW = datetime(2026, 9, 1, 3, 0, 0)


@pytest.mark.parametrize("pepper", ["dev-pepper", "p" * 100, "sèl-ü"])
def test_spark_hmac_equals_python_hmac(spark, pepper):
    values = ["ana@example.com", "+4915112345678", "zoë@exämple.de", None]
    df = spark.createDataFrame([(v,) for v in values], "v string")
    got = [r.h for r in df.select(hmac_column(F.col("v"), pepper).alias("h")).collect()]
    assert got == [hmac_hex(pepper, v) if v is not None else None for v in values]


def test_allow_list_decides_the_columns_and_consent_nulls_them(spark):
    params = ExportParams(hash_pepper="k", allow_list=("first_name", "account_tier"))
    out = build_export(profiles_df(spark, people()), params=params, exported_at=NOW)
    assert out.columns == [
        *KEY_FIELDS, "first_name", "account_tier", "document", "base_state", "covered_offsets"
    ]
    rows = {r.profile_id: r for r in out.collect()}
    assert (rows[ANNA].first_name, rows[ANNA].account_tier) == ("Anna", "premium")
    carla = rows[CARLA]
    assert (carla.personalization_allowed, carla.first_name, carla.account_tier) == (
        False,
        None,
        None,
    )
    assert carla.lookup_ids == {
        "customer_id": ["C0000003"],
        "email": [hmac_hex("k", "carla@example.fr")],
    }
    assert rows[BOB].exported_at == NOW and rows[BOB].profile_version == 7
    assert json.loads(rows[CARLA].document) == {
        "profile_id": CARLA,
        "profile_version": 3,
        "as_of": "2026-09-01T02:00:00.000Z",
        "updated_at": "2026-08-31T18:00:00.000Z",
        "exported_at": "2026-09-01T03:00:00.000Z",
        "personalization_allowed": False,
        "lookup_ids": {"customer_id": ["C0000003"], "email": [hmac_hex("k", "carla@example.fr")]},
        "first_name": None,
        "account_tier": None,
    }


def test_unknown_allow_list_field_fails_loudly(spark):
    with pytest.raises(ConfigError, match="unknown fields \\['email'\\]"):
        build_export(profiles_df(spark, people()), params=ExportParams(allow_list=("email",)))


def test_action_rules_are_ordered_by_priority(spark):
    params = ExportParams(
        allow_list=("next_best_actions",),
        actions=(
            ActionRule("b_low", "open_tickets >= 0", "always", priority=9),
            ActionRule(
                "a_ticket", "open_tickets > 0", "", priority=1, hint_sql="open_ticket_ids[0]"
            ),
            ActionRule("never", "net_spend > 1e9", "no", priority=0),
        ),
    )
    rows = {
        r.profile_id: r for r in build_export(profiles_df(spark, people()), params=params).collect()
    }
    assert [(a.name, a.hint) for a in rows[BOB].next_best_actions] == [
        ("a_ticket", "T-9"),
        ("b_low", "always"),
    ]
    assert [a.name for a in rows[ANNA].next_best_actions] == ["b_low"]


def test_export_reads_the_real_profile_schema(spark):
    """Wiring: events → fold → finalize → identifiers → export, as the pipeline builds them."""
    rows = [
        event("a1", "add_to_cart", "2026-08-31T10:00:00", profile="p_0000000000000001",
              sku="S1", category="shoes", quantity=2, unit_price=40.0, currency="EUR"),
        event("u1", "profile_updated", "2026-08-30T10:00:00", profile="p_0000000000000001",
              attributes={"first_name": "Ana", "language": "ES", "account_tier": "Premium"}),
        event("t1", "ticket_opened", "2026-08-31T11:00:00", profile="p_0000000000000001",
              ticket_id="T-1", channel="chat", priority="high", category="shipping",
              status="open"),
    ]  # fmt: skip
    states = finalize(fold_events(events_df(spark, rows)), ts("2026-09-01T00:00:00"))
    idents = spark.createDataFrame(
        [("p_0000000000000001", {"email": ["ana@example.com"]})],
        "profile_id string, identifiers map<string,array<string>>",
    )
    profiles = with_identifiers(states, idents).withColumns(
        {"version": F.lit(1).cast("bigint"), "updated_at": F.lit(NOW)}
    )
    params = ExportParams(
        hash_pepper="k",
        allow_list=("first_name", "language", "account_tier", "cart", "intent", "intent_at",
                    "complementary_category", "open_tickets", "last_ticket"),
        complementary_categories={"shoes": "fashion"},
    )  # fmt: skip
    row = build_export(profiles, params=params).collect()[0]
    assert (row.first_name, row.language, row.account_tier) == ("Ana", "es", "premium")
    assert [(c.sku, c.quantity, c.unit_price) for c in row.cart] == [("S1", 2, 40.0)]
    assert (row.intent, row.intent_at, row.complementary_category) == (
        "cart",
        ts("2026-08-31T10:00:00"),
        "fashion",
    )
    assert (row.open_tickets, row.last_ticket.ticket_id, row.last_ticket.status) == (
        1,
        "T-1",
        "open",
    )
    assert row.lookup_ids == {"email": [hmac_hex("k", "ana@example.com")]}
    assert row.as_of == ts("2026-09-01T00:00:00") and row.profile_version == 1


def test_probable_fields_reach_the_document_and_the_hot_lanes_render(spark):
    """The probable_activity row is published apart from the strong fields, and the base the
    hot lane renders from carries it: a render of the base alone gives the same fields."""
    from pipelines.serving.served import Composer, Found

    rows = [event("v1", "product_view", "2026-08-31T10:00:00", profile="p_0000000000000001",
                  sku="S1", category="shoes")]
    states = finalize(fold_events(events_df(spark, rows)), ts("2026-09-01T00:00:00"))
    profiles = states.withColumns({"identifiers": F.lit(None).cast("map<string,array<string>>"),
                                   "version": F.lit(1).cast("bigint"),
                                   "updated_at": F.lit(NOW)})
    probable = spark.createDataFrame(
        [("p_0000000000000001", 0.97, ["toys", "books"], ("S9", "toys", ts("2026-08-30T09:00:00")),
          2, ["p_00000000000000a1"], NOW),
         ("p_00000000000000ff", 0.9, ["home"], None, 1, ["p_00000000000000a2"], NOW)],
        "profile_id string, probable_confidence double, probable_recent_categories "
        "array<string>, probable_last_viewed struct<sku:string,category:string,at:timestamp>, "
        "anonymous_ids bigint, anonymous_profile_ids array<string>, updated_at timestamp")
    fields = ("probable_recent_categories", "probable_last_viewed", "probable_confidence")
    params = ExportParams(allow_list=("recent_categories", *fields))
    row = build_export(profiles, params=params, exported_at=NOW, probable=probable).collect()[0]
    doc = json.loads(row.document)
    assert {f: doc[f] for f in ("recent_categories", *fields)} == {
        "recent_categories": ["shoes"],  # the strong profile's own, untouched
        "probable_recent_categories": ["toys", "books"],
        "probable_last_viewed": {"sku": "S9", "category": "toys",
                                 "at": "2026-08-30T09:00:00.000Z"},
        "probable_confidence": 0.97,
    }
    found = Found(doc=b"", updated_s=0.0, profile_id=row.profile_id, source="hot",
                  base_version=1, base=row.base_state)
    rendered = json.loads(Composer(params).render(found, [], NOW.timestamp()))
    assert {f: rendered[f] for f in fields} == {f: doc[f] for f in fields}
    # Without the table (or a row) the fields are null; the profile is exported all the same.
    alone = json.loads(build_export(profiles, params=params).collect()[0].document)
    assert [alone[f] for f in fields] == [None, None, None]
