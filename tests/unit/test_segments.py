"""Rule segments (conf/segments.yaml): validation at load, assignment, hysteresis.

Expected memberships follow the rules' text in conf/segments.yaml and docs/segments.md.
"""

from __future__ import annotations

from datetime import date

import pytest

from pipelines.config import PROJECT_DIR
from pipelines.features import features_schema
from pipelines.segments.assign import UNSEGMENTED, SegmentParams, assign_segments
from pipelines.segments.hysteresis import HysteresisParams
from pipelines.segments.rules import SegmentRuleError, load_rules, parse_rules

AS_OF = date(2026, 10, 2)
SCHEMA = features_schema()
RULES_FILE = PROJECT_DIR / "conf" / "segments.yaml"


def _rule(name="Big", condition="spend_90d > 500", **extra):
    return {"name": name, "description": "d", "priority": 1, "condition": condition, **extra}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (_rule(condition="spend_90d >>> 500"), "segment 'Big': condition"),
        (_rule(condition="spend_9d > 500"), "segment 'Big': condition"),
        (_rule(condition="spend_90d + 1"), "not boolean"),
        (_rule(keep_condition="nope = 1"), "segment 'Big': keep_condition"),
        ({"name": "Big", "priority": 1, "condition": "true"}, "segment 'Big' lacks description"),
        (_rule(priority="high"), "priority must be an integer"),
        (_rule(colour="red"), "unknown keys"),
    ],
)
def test_a_bad_rule_fails_at_load_naming_the_segment(spark, entry, message):
    with pytest.raises(SegmentRuleError, match=message):
        parse_rules([entry], spark, SCHEMA)


def test_duplicate_names_fail(spark):
    with pytest.raises(SegmentRuleError, match="same name"):
        parse_rules([_rule(), {**_rule(), "priority": 2}], spark, SCHEMA)


def test_the_shipped_rules_load_in_priority_order(spark):
    rules = load_rules(RULES_FILE, spark, SCHEMA)
    names = [r.name for r in rules]
    assert names[:5] == [
        "Premium Buyers",
        "At Risk",
        "Frequent Support Seekers",
        "Loyal Customers",
        "Occasional Buyers",
    ]
    assert all(r.keep_condition for r in rules)


NUMERIC = {"bigint", "int", "double"}


def _features(spark, rows):
    """Features rows: every count/amount 0 unless given, as_of = AS_OF."""
    full = []
    for given in rows:
        row = {f.name: 0 if f.dataType.simpleString() in NUMERIC else None for f in SCHEMA.fields}
        row.update(as_of=AS_OF, rfm_label="Loyal", top_categories=[], days_since_last_event=1)
        row.update(given)
        for f in SCHEMA.fields:
            if f.dataType.simpleString() == "double" and row[f.name] is not None:
                row[f.name] = float(row[f.name])
        full.append(row)
    return spark.createDataFrame(full, SCHEMA)


def _previous(spark, rows, as_of=date(2026, 10, 1)):
    return spark.createDataFrame(
        [(p, as_of, segs, segs[0] if segs else UNSEGMENTED, band) for p, segs, band in rows],
        "profile_id string, as_of date, rule_segments array<string>, "
        "primary_segment string, churn_band string",
    )


def _churn(spark, rows):
    return spark.createDataFrame(
        [(p, s, "3") for p, s in rows],
        "profile_id string, churn_score double, model_version string",
    )


@pytest.fixture(scope="module")
def rules(spark):
    return load_rules(RULES_FILE, spark, SCHEMA)


def _assign(rules, features, churn=None, previous=None, params=None):
    out = assign_segments(features, None, churn, previous, rules, AS_OF, params or SegmentParams())
    return {r.profile_id: r for r in out.collect()}


def test_rule_segments_primary_by_priority_bands_and_staleness(spark, rules):
    features = _features(
        spark,
        [
            # Premium (spend_90d > 500) and Occasional (1-4 orders in 365 d): Premium first.
            {
                "profile_id": "rich",
                "spend_90d": 600,
                "orders_365d": 2,
                "orders_lifetime": 2,
                "recency_days": 10,
            },
            # Loyal: 5+ orders in a year, bought 30 days ago.
            {"profile_id": "loyal", "orders_365d": 6, "orders_lifetime": 6, "recency_days": 30},
            # At Risk: 2+ orders ever, none for 120 days; stale (no event for 61 days).
            {
                "profile_id": "lapsing",
                "orders_lifetime": 3,
                "orders_365d": 3,
                "recency_days": 120,
                "days_since_last_event": 61,
            },
            # Frequent Support Seekers: 3 tickets in 30 days.
            {"profile_id": "needy", "tickets_30d": 3, "tickets_90d": 3},
            # Nothing matches.
            {"profile_id": "nobody"},
        ],
    )
    churn = _churn(spark, [("rich", 0.1), ("loyal", 0.5), ("lapsing", 0.9)])
    got = _assign(rules, features, churn)
    assert got["rich"].rule_segments == ["Premium Buyers", "Occasional Buyers"]
    assert got["rich"].primary_segment == "Premium Buyers"
    # Each segment with the condition (conf/segments.yaml) that put the profile there.
    assert [r.asDict() for r in got["rich"].segment_reasons] == [
        {"segment": "Premium Buyers", "condition": "spend_90d > 500", "kept": False},
        {"segment": "Occasional Buyers", "condition": "orders_365d BETWEEN 1 AND 4",
         "kept": False},
    ]
    assert got["nobody"].segment_reasons == [] and got["rich"].churn_reasons is None
    assert got["loyal"].primary_segment == "Loyal Customers"
    assert got["lapsing"].rule_segments == ["At Risk", "Occasional Buyers"]
    assert got["needy"].primary_segment == "Frequent Support Seekers"
    assert got["nobody"].rule_segments == [] and got["nobody"].primary_segment == UNSEGMENTED
    bands = {p: (got[p].churn_band, got[p].model_version) for p in ("rich", "loyal", "lapsing")}
    assert bands == {"rich": ("low", "3"), "loyal": ("medium", "3"), "lapsing": ("high", "3")}
    assert got["nobody"].churn_band is None and got["nobody"].model_version is None
    assert (got["lapsing"].is_stale, got["rich"].is_stale) == (True, False)


def test_hysteresis_keeps_a_segment_until_the_keep_condition_fails(spark, rules):
    # Premium Buyers: enter at spend_90d > 500, stay while > 450.
    features = _features(
        spark,
        [
            {"profile_id": "stays", "spend_90d": 470},  # was Premium: keep holds
            {"profile_id": "leaves", "spend_90d": 440},  # was Premium: keep fails
            {"profile_id": "no_entry", "spend_90d": 470},  # was not Premium: must reach 500
        ],
    )
    previous = _previous(
        spark,
        [
            ("stays", ["Premium Buyers"], None),
            ("leaves", ["Premium Buyers"], None),
            ("no_entry", [], None),
        ],
    )
    got = _assign(rules, features, previous=previous)
    assert got["stays"].primary_segment == "Premium Buyers"
    # Held by hysteresis: the reason is the keep condition, marked as such.
    assert [r.asDict() for r in got["stays"].segment_reasons] == [
        {"segment": "Premium Buyers", "condition": "spend_90d > 450", "kept": True}
    ]
    assert got["stays"].previous_primary_segment == "Premium Buyers"
    assert not got["stays"].segment_changed
    assert got["leaves"].primary_segment == UNSEGMENTED and got["leaves"].segment_changed
    assert got["no_entry"].primary_segment == UNSEGMENTED

    # A previous as_of older than max_gap_days does not count.
    old = _previous(spark, [("stays", ["Premium Buyers"], None)], as_of=date(2026, 9, 1))
    assert _assign(rules, features, previous=old)["stays"].primary_segment == UNSEGMENTED
    # Nor does it when hysteresis is off.
    off = SegmentParams(hysteresis=HysteresisParams(enabled=False))
    assert _assign(rules, features, previous=previous, params=off)["stays"].primary_segment == (
        UNSEGMENTED
    )


BAND_CASES = [
    (None, 0.72, "high"),  # no history: plain edges 0.4 / 0.7
    ("medium", 0.72, "medium"),  # must reach 0.7 + 0.05
    ("medium", 0.76, "high"),
    ("high", 0.66, "high"),  # leaves high only below 0.7 - 0.05
    ("high", 0.64, "medium"),
    ("low", 0.43, "low"),  # must reach 0.4 + 0.05
    ("low", 0.46, "medium"),
    ("medium", 0.36, "medium"),  # leaves medium only below 0.4 - 0.05
    ("medium", 0.34, "low"),
    ("high", 0.30, "low"),
    ("low", None, None),  # no score (not in the churn population): no band
]


def test_churn_band_hysteresis(spark, rules):
    ids = {f"p{i}": case for i, case in enumerate(BAND_CASES)}
    features = _features(spark, [{"profile_id": p} for p in ids])
    previous = _previous(spark, [(p, [], prev) for p, (prev, _, _) in ids.items()])
    churn = _churn(spark, [(p, score) for p, (_, score, _) in ids.items()])
    got = _assign(rules, features, churn, previous)
    assert [(prev, score, got[p].churn_band) for p, (prev, score, _) in ids.items()] == BAND_CASES
