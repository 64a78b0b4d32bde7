"""export_row (plain-Python export document) against build_export (Spark), and the SQL rule
subset compiler it uses."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.config import ConfigError, load_conf
from pipelines.serving.export import build_export
from pipelines.serving.export_fields import KEY_FIELDS, OPTIONAL_FIELDS
from pipelines.serving.export_row import compiled_rules, export_document, newest_cart_line
from pipelines.serving.hashing import hmac_hex
from pipelines.serving.params import ActionRule, ExportParams
from pipelines.serving.sql_rules import (
    RuleError,
    compile_condition,
    compile_expression,
    java_double,
)
from tests.serving_data import CARLA, people, profiles_df

NOW = datetime(2026, 9, 1, 3, 0, 0)
TYPES = {"n": "int", "d": "double", "s": "string", "b": "boolean", "t": "timestamp"}


def cond(sql: str, **columns: Any) -> Any:
    return compile_condition(sql, "r", TYPES)({k.lower(): v for k, v in columns.items()})


def value(sql: str, **columns: Any) -> Any:
    return compile_expression(sql, "r", TYPES)({k.lower(): v for k, v in columns.items()})


# --- the SQL subset ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("b AND NULL", None),
        ("NOT b AND NULL", False),
        ("b OR NULL", True),
        ("NOT b OR NULL", None),
        ("NOT NULL", None),
        ("NULL = NULL", None),
        ("NULL <=> NULL", True),
        ("n <=> NULL", False),
        ("n IN (1, 2)", True),
        ("n IN (2, NULL)", None),
        ("n IN (1, NULL)", True),
        ("n NOT IN (2, NULL)", None),
        ("NULL IN (1)", None),
        ("n BETWEEN 0 AND NULL", None),
        ("n BETWEEN 2 AND NULL", False),
        ("n NOT BETWEEN 0 AND 1", False),
        ("s IS NULL", False),
        ("s IS NOT NULL AND b IS TRUE", True),
        ("b IS FALSE", False),
    ],
)
def test_three_valued_logic(sql, expected):
    assert cond(sql, n=1, s="x", b=True) is expected


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("b OR b AND NOT b", True),  # AND before OR
        ("NOT n = 2", True),  # NOT applies to the comparison
        ("1 + 2 * 3 = 7", True),
        ("(1 + 2) * 3 = 9", True),
        ("-2 * 3 = -6", True),
        ("10 - 2 - 3 = 5", True),  # left-associative
        ("d / 2 = 0.75", True),  # decimal literal meets the double as a double
        ("n / 2 = 0.5D", True),  # integer division gives a double
        ("'5' = 5 AND '1.25' < d", True),  # a string compared with a number is cast to it
        ("t > '2026-01-01' AND t < '2026-08-01T10:00:01Z'", True),
        ("s || 'y' = 'xy' AND 'Ä' > 'Z'", True),
    ],
)
def test_precedence_and_coercions(sql, expected):
    assert cond(sql, n=1, d=1.5, s="x", b=True, t=datetime(2026, 8, 1, 10)) is expected


def test_values_render_as_spark_casts_them():
    row = {"n": 3, "d": 2.5, "s": None, "t": datetime(2026, 8, 1, 10, 0, 0, 500000)}
    assert value("coalesce(n, 1.5D)", **row) == 3.0  # widened to double
    assert value("concat('a', coalesce(n, 1.5D))", **row) == "a3.0"
    rendered = value("concat('a', n, ' ', d * 1e7, ' ', 1.50, ' ', TRUE)", **row)
    assert rendered == "a3 2.5E7 1.50 true"
    assert value("concat('a', s)", **row) is None
    assert value("concat('at ', t)", **row) == "at 2026-08-01 10:00:00.5"
    assert value("upper(coalesce(s, 'straße'))", **row) == "STRASSE"
    assert value("\"dq\" || 'it\\'s'", **row) == "dqit's"
    assert value("last_ticket.TICKET_ID", last_ticket={"ticket_id": "T-1"}) == "T-1"
    assert value("Cart.sku", cart=[{"sku": "A"}, None]) == ["A", None]
    assert value("ids[1]", ids=["a", "b"]) == "b"
    assert value("m['k']", m={"k": 1}) == 1
    assert value("array_contains(a, 'z')", a=["x", None]) is None
    # concat_ws skips null parts and null array elements; only a null separator gives null.
    assert value("concat_ws(', ', ids, s, 'z')", ids=["a", None, "b"], s=None) == "a, b, z"
    assert value("concat_ws('-', ids)", ids=[]) == ""
    assert value("concat_ws('-', ids)", ids=None) == ""
    assert value("concat_ws(s, 'a')", s=None) is None


@pytest.mark.parametrize(
    ("number", "text"),
    [(1.0, "1.0"), (0.001, "0.001"), (1e-4, "1.0E-4"), (1e7, "1.0E7"), (-1234.5, "-1234.5"),
     (12345678.9, "1.23456789E7"), (0.0, "0.0"), (float("nan"), "NaN")],
)  # fmt: skip
def test_java_double(number, text):
    assert java_double(number) == text


@pytest.mark.parametrize(
    "sql",
    ["1 / 0 > 0", "n / 0 > 0", "'a' = 5", "ids[5] = 'x'", "2147483647 + n > 0", "s > 1"],
)
def test_runtime_failures_spark_shares(sql):
    with pytest.raises(RuleError):
        cond(sql, n=1, s="abc", ids=["a"])


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("intent LIKE 'c%'", "unsupported"),
        ("CASE WHEN n > 0 THEN TRUE END", "unsupported"),
        ("cast(n AS int) > 0", "unsupported function cast"),
        ("n % 2 = 0", "unsupported character '%'"),
        ("n > 0;", "unsupported character ';'"),
        ("n >", "found the end"),
        ("(n > 0", "expected ')'"),
        ("s = 'open", "unsupported character"),
        ("n", "not boolean"),
        ("s AND b", "AND needs a boolean"),
        ("b = 1", "cannot compare boolean with int"),
        ("last_ticket.nope = 'x'", "no field 'nope'"),
        ("1.5 / n > 0", "decimal division"),
        ("lower(s, s) = 'x'", "lower() takes 1"),
        ("coalesce(s, 1) = 'x'", "mixed types"),
        ("concat('a', ids) = 'x'", "strings or arrays only"),
        ("concat_ws() = 'x'", "concat_ws() takes at least 1"),
        ("concat_ws(ids, 'a') = 'x'", "separator must be a string"),
        ("concat_ws(',', last_ticket) = 'x'", "strings or arrays only"),
        ("'a' 'b' = s", "adjacent string literals"),
        ("NOT", "found the end"),
        ("", "empty expression"),
    ],
)
def test_unsupported_syntax_fails_at_compile_time_naming_the_rule(sql, message):
    types = {**TYPES, "last_ticket": {"ticket_id": "string"}, "ids": "array"}
    with pytest.raises(ConfigError, match="rule 'my_rule'") as err:
        compile_condition(sql, "my_rule", types)
    assert message in str(err.value)


def test_rules_compile_once_per_params():
    params = ExportParams.from_conf(load_conf("test"))
    assert compiled_rules(params.actions) is compiled_rules(replace(params).actions)


def test_unknown_column_fails_for_every_row_as_spark_analysis_does():
    params = ExportParams(allow_list=("first_name",), actions=(ActionRule("x", "nope > 1", "h"),))
    with pytest.raises(ConfigError, match="rule 'x': unknown columns \\['nope'\\]"):
        export_document(people()[0], params, NOW)


# --- the document -----------------------------------------------------------------------------


def test_consent_off_keeps_only_the_key_fields():
    params = ExportParams(hash_pepper="k", allow_list=("first_name", "account_tier"))
    carla = next(p for p in people() if p["profile_id"] == CARLA)
    assert export_document(carla, params, NOW) == {
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


def test_newest_cart_line_copies_javas_sort_with_null_times():
    at = datetime(2026, 8, 1)
    cart = [{"sku": "a", "added_at": at}, {"sku": "b", "added_at": None},
            {"sku": "c", "added_at": at + timedelta(hours=1)}]  # fmt: skip
    # TimSort: run [a, b] ascending (a vs b is "equal"), then c is inserted after b.
    assert newest_cart_line(cart)["sku"] == "a"
    assert (
        newest_cart_line([{"sku": "x", "added_at": at}, {"sku": "y", "added_at": at}])["sku"] == "x"
    )


def test_no_pyspark_import():
    import subprocess
    import sys

    code = "import sys, pipelines.serving.export_row; assert 'pyspark' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- property: the same document as Spark -----------------------------------------------------

SEGMENTS_SCHEMA = (
    "profile_id string, as_of timestamp, primary_segment string, rule_segments array<string>, "
    "cluster_name string, churn_score double, churn_band string, rfm_label string, "
    "churn_reasons array<string>, "
    "segment_reasons array<struct<segment:string,condition:string,kept:boolean>>"
)
PROBABLE_SCHEMA = (
    "profile_id string, probable_confidence double, probable_recent_categories array<string>, "
    "probable_last_viewed struct<sku:string,category:string,at:timestamp>"
)
BASE = datetime(2026, 8, 1, 10, 0, 0)
TIMES = [BASE, BASE + timedelta(minutes=5), BASE + timedelta(microseconds=1999)]

words = st.text(alphabet="aAbZ ß\tİéΣﬁ-", max_size=6)
stamps = st.sampled_from(TIMES) | st.datetimes(
    min_value=datetime(2001, 1, 1), max_value=datetime(2030, 12, 31)
)
opt_stamps = st.none() | stamps
money = (
    st.none()
    | st.sampled_from([0.0, 500.0, 499.99, 12345678.9])
    | st.floats(-100, 5000, allow_nan=False).map(lambda x: round(x, 2))
)
categories = st.none() | st.sampled_from(["electronics", "home", "toys", "garden", "Shoes"])
line = st.fixed_dictionaries(
    {
        "sku": st.none() | st.sampled_from(["S1", "S2", "S3"]),
        "category": categories,
        "quantity": st.none() | st.integers(0, 5),
        "unit_price": st.none() | st.floats(0, 500, allow_nan=False, allow_infinity=False),
        "added_at": st.sampled_from(TIMES) | st.none() | stamps,
    }
)
ticket = st.fixed_dictionaries(
    {
        "at": opt_stamps,
        "event_id": st.text("e0123", max_size=3),
        "ticket_id": st.none() | st.sampled_from(["T-1", "T-2"]),
        "status": st.none() | st.sampled_from(["open", "pending", "solved", "closed"]),
        "channel": st.none() | st.just("chat"),
        "priority": st.none() | st.sampled_from(["high", "low"]),
        "category": categories,
    }
)
identifiers = st.none() | st.dictionaries(
    st.sampled_from(["customer_id", "email", "phone", "device_id", "social_handle"]),
    st.none()
    | st.lists(
        st.none() | st.sampled_from(["a@x.io", "b@y.io", "+4911", "C1"]), max_size=3
    ),  # fmt: skip
    max_size=4,
)
activity = st.none() | st.fixed_dictionaries(
    {
        "probable_confidence": st.none() | st.sampled_from([0.8, 0.85, 0.97]),
        "probable_recent_categories": st.none() | st.lists(categories, max_size=3),
        "probable_last_viewed": st.none()
        | st.fixed_dictionaries(
            {"sku": st.none() | st.sampled_from(["S1", "S9"]), "category": categories,
             "at": opt_stamps}
        ),
    }
)
profile_fields = st.fixed_dictionaries(
    {
        "probable": activity,  # the profile's probable_activity row (not a profile column)
        "identifiers": identifiers,
        "first_name": st.none() | words,
        "last_name": st.none() | words,
        "language": st.none() | st.sampled_from(["DE", "en", "Fr"]),
        "country": st.none() | st.sampled_from(["de", "US", "fr"]),
        "account_tier": st.none() | st.sampled_from(["premium", "Premium", "STANDARD", "free"]),
        "consent_personalization": st.sampled_from([True, True, True, False, None]),
        "net_spend": money,
        "orders_30d": st.none() | st.integers(0, 40),
        "last_order_id": st.none() | st.just("O-1"),
        "last_order_at": opt_stamps,
        "open_tickets": st.none() | st.integers(0, 3),
        "open_ticket_ids": st.none() | st.lists(st.sampled_from(["T-1", "T-2"]), max_size=2),
        "last_ticket": st.none() | ticket,
        "avg_csat": st.none() | st.sampled_from([1.0, 2.5, 4.75]),
        "cart": st.none() | st.lists(line, max_size=6),
        "cart_value": money,
        "cart_updated_at": opt_stamps,
        "intent": st.none() | st.sampled_from(["cart", "checkout", "browsing", "Cart"]),
        "last_contact_at": opt_stamps,
        "recent_categories": st.none() | st.lists(categories, max_size=3),
        "last_seen": opt_stamps,
        "as_of": stamps,
        "version": st.integers(1, 2**40),
        "updated_at": stamps,
    }
)
snapshot = st.fixed_dictionaries(
    {
        "primary_segment": st.none() | st.just("vip"),
        "rule_segments": st.none() | st.lists(st.sampled_from(["vip", "loyal"]), max_size=2),
        "cluster_name": st.none() | st.just("gadget_fans"),
        "churn_score": st.none() | st.sampled_from([0.05, 0.5, 0.93]),
        "churn_band": st.none() | st.sampled_from(["high", "low", "High"]),
        "rfm_label": st.none() | st.just("champion"),
        "churn_reasons": st.none()
        | st.lists(st.sampled_from(["orders ever: 3 (lowers the churn risk)", "ß é"]), max_size=3),
        "segment_reasons": st.none()
        | st.lists(
            st.fixed_dictionaries(
                {
                    "segment": st.sampled_from(["vip", "loyal"]),
                    "condition": st.sampled_from(["spend_90d > 500", "x = 'a\"b'"]),
                    "kept": st.none() | st.booleans(),
                }
            ),
            max_size=2,
        ),
    }
)
SNAPSHOT_TIMES = [BASE - timedelta(days=d, microseconds=d * 1500) for d in range(4)]
snapshots = st.lists(st.sampled_from(SNAPSHOT_TIMES), max_size=2, unique=True).flatmap(
    lambda times: st.tuples(*[snapshot.map(lambda s, t=t: {**s, "as_of": t}) for t in times])
)

CONF_PARAMS = ExportParams.from_conf(load_conf("test"))
EXTRA_RULES = (
    ActionRule(
        "tiered",
        "lower(account_tier) IN ('premium', NULL) OR net_spend BETWEEN 100 AND 500.5",
        "",
        priority=2,
        hint_sql="concat(upper(coalesce(first_name, 'friend')), ' ', net_spend * 2, ' ', "
        "open_tickets + 1, ' ', orders_30d, ' ', lower(last_name) || '!')",
    ),
    ActionRule("not_browsing", "NOT (intent <=> 'browsing') AND cart_value / 2 > 10", "nb", 2),
    ActionRule(
        "ticket",
        "last_ticket.status IS NOT NULL AND last_ticket.at > '2026-06-01'",
        "",
        priority=1,
        hint_sql="concat('T ', coalesce(last_ticket.ticket_id, '?'), ' at ', last_ticket.at)",
    ),
    ActionRule(
        "segment",
        "array_contains(rule_segments, 'vip') OR churn_score >= 0.5D OR Churn_Band = 'High'",
        "",
        priority=3,
        hint_sql="coalesce(churn_score, avg_csat, 0)",
    ),
    ActionRule("csat", "NOT avg_csat >= 3 AND -orders_30d <= 0", "c", priority=3),
    ActionRule("cart_match", "array_contains(cart.category, complementary_category)", "m", 0),
    ActionRule(
        "probable",
        "probable_confidence >= 0.85 OR probable_last_viewed.category = 'toys'",
        "",
        priority=5,
        hint_sql="concat_ws(',', probable_recent_categories, probable_last_viewed.sku)",
    ),
    ActionRule(
        "joined",
        "open_tickets >= 0",
        "",
        priority=4,
        hint_sql="concat_ws(' / ', recent_categories, first_name, open_ticket_ids, orders_30d)",
    ),
)
PARAMS = [
    CONF_PARAMS,
    replace(
        CONF_PARAMS,
        hash_pepper="other",
        lookup_id_types=("customer_id", "email", "device_id"),
        hashed_id_types=("email",),
        allow_list=("account_tier", "display_name", "next_best_actions", "complementary_category"),
    ),
    replace(
        CONF_PARAMS,
        allow_list=tuple(OPTIONAL_FIELDS),
        complementary_categories={"toys": "books", "garden": "home"},
        actions=CONF_PARAMS.actions + EXTRA_RULES,
    ),
    replace(CONF_PARAMS, actions=(), complementary_categories={}),
]


def _aware(value: Any, zone: timezone) -> Any:
    """The same instants as aware datetimes in another zone (export_row must not care)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC).astimezone(zone)
    if isinstance(value, list):
        return [_aware(v, zone) for v in value]
    if isinstance(value, dict):
        return {k: _aware(v, zone) for k, v in value.items()}
    return value


def _batch(pool: list[tuple[dict, tuple]], size: int) -> list[tuple[dict, tuple]]:
    """``size`` profiles recombined from a drawn pool: the pool first, then rows whose fields
    come from different pool rows (Hypothesis cannot draw 50+ rows of ~100 choices each)."""
    out = []
    for i in range(size):
        shift = i // len(pool)
        fields = {f: pool[(i + j * shift) % len(pool)][0][f] for j, f in enumerate(pool[0][0])}
        out.append((fields, pool[(i + shift) % len(pool)][1]))
    return out


# Each example is one Spark job (~3-6 s on 2 busy cores); EXPORT_ROW_EXAMPLES=40 for a deeper run.
@settings(
    max_examples=int(os.environ.get("EXPORT_ROW_EXAMPLES", "8")),
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
@given(
    pool=st.lists(st.tuples(profile_fields, snapshots), min_size=4, max_size=16),
    size=st.integers(50, 80),
    params=st.sampled_from(PARAMS),
    with_segments=st.booleans(),
    aware=st.sampled_from([None, UTC, timezone(timedelta(hours=-7, minutes=-30))]),
    exported_at=stamps,
)
def test_export_document_equals_spark(spark, pool, size, params, with_segments, aware, exported_at):
    batch = _batch(pool, size)
    rows = [{**p, "profile_id": f"p_{i:016x}"} for i, (p, _) in enumerate(batch)]
    activity = {r["profile_id"]: r.pop("probable") for r in rows}
    snaps = [{**s, "profile_id": f"p_{i:016x}"} for i, (_, ss) in enumerate(batch) for s in ss]
    profiles = profiles_df(spark, rows)
    segments = spark.createDataFrame(snaps, SEGMENTS_SCHEMA) if with_segments else None
    # The same flag gives the probable_activity table: one Spark job per example either way.
    probable = spark.createDataFrame(
        [{**a, "profile_id": pid} for pid, a in activity.items() if a is not None],
        PROBABLE_SCHEMA) if with_segments else None
    out = build_export(profiles, segments, params=params, exported_at=exported_at,
                       probable=probable)
    spark_docs = {r.profile_id: json.loads(r.document) for r in out.collect()}
    assert len(spark_docs) == len(rows)
    # The profile as the hot lane gets it: the row Spark read, through Row.asDict.
    for row in profiles.collect():
        profile = row.asDict(recursive=True)
        pid = profile["profile_id"]
        latest = mine = None
        if with_segments:
            own = [s for s in snaps if s["profile_id"] == pid]
            latest = max(own, key=lambda s: s["as_of"]) if own else None
            mine = activity[pid]
        stamp = exported_at
        if aware is not None:
            profile, latest, mine, stamp = (
                _aware(x, aware) for x in (profile, latest, mine, exported_at))
        got = export_document(profile, params, stamp, latest, mine)
        assert list(got) == [*KEY_FIELDS, *params.allow_list]
        assert got == spark_docs[pid], pid
