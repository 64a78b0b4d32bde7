"""Every shipped next-best-action hint (conf/base.yaml ``export.next_best_actions``) states
only facts that hold on the profile it is given for.

Each rule has a fact check written from what its hint *says* (not from its condition) and
profiles built to fire it, including the ones where a careless hint goes wrong (the latest
ticket closed while older ones are open). Both engines are checked: build_export (Spark) and
export_document (the hot lane's and the API's Python twin).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from pipelines.config import load_conf
from pipelines.serving.export import build_export
from pipelines.serving.export_row import export_document
from pipelines.serving.params import ExportParams
from tests.serving_data import SEGMENT_SCHEMA, profile, profiles_df, ts

SHIPPED = ExportParams.from_conf(load_conf("test"))
EXPORTED_AT = datetime(2026, 9, 1, 3, 0, 0)
SNAPSHOT_AT = ts("2026-09-01T02:00:00")


def _ticket(ticket_id: str, status: str, at: str) -> dict[str, Any]:
    return {"at": ts(at), "event_id": f"e-{ticket_id}", "ticket_id": ticket_id,
            "status": status, "channel": "email", "priority": "high", "category": "shipping"}


def _line(sku: str, category: str, at: str) -> dict[str, Any]:
    return {"sku": sku, "category": category, "quantity": 1, "unit_price": 10.0,
            "added_at": ts(at)}


# What each hint claims, checked on the profile and its segments snapshot.
def _open_tickets_quoted(hint: str, p: dict, _s: dict) -> bool:
    """"Open tickets: A, B." names exactly the profile's open tickets."""
    m = re.fullmatch(r"Open tickets: (.+)\. Give a status update\.", hint)
    return m is not None and sorted(m.group(1).split(", ")) == sorted(p["open_ticket_ids"])


def _at_risk_high_value_with_open_ticket(hint: str, p: dict, s: dict) -> bool:
    high_value = p["account_tier"] == "premium" or (p["net_spend"] or 0) >= 500
    return (hint.startswith("At-risk high-value customer with an open ticket")
            and s["churn_band"] == "high" and high_value and len(p["open_ticket_ids"]) > 0)


def _unfinished_checkout(hint: str, p: dict, _s: dict) -> bool:
    return (hint.startswith("Checkout started but not finished")
            and p["intent"] == "checkout" and len(p["cart"]) > 0)


def _complement_of_latest_cart_line(hint: str, p: dict, _s: dict) -> bool:
    m = re.fullmatch(r"Suggest something from (\S+) to go with the cart\.", hint)
    latest = max(p["cart"], key=lambda line: line["added_at"])
    return m is not None and m.group(1) == SHIPPED.complementary_categories[latest["category"]]


def _churn_risk(hint: str, _p: dict, s: dict) -> bool:
    return hint.startswith("At risk of churning") and s["churn_band"] == "high"


FACTS: dict[str, Callable[[str, dict, dict], bool]] = {
    "escalate_at_risk_high_value": _at_risk_high_value_with_open_ticket,
    "follow_up_open_ticket": _open_tickets_quoted,
    "complete_checkout": _unfinished_checkout,
    "suggest_complementary_category": _complement_of_latest_cart_line,
    "win_back": _churn_risk,
}

HIGH_RISK = {"churn_band": "high", "churn_score": 0.9}
LOW_RISK = {"churn_band": "low", "churn_score": 0.1}
# (profile fields, segments snapshot, the rules it must fire)
CASES: list[tuple[dict, dict, set[str]]] = [
    # The latest ticket is closed, two older ones are still open.
    ({"open_tickets": 2, "open_ticket_ids": ["T-1", "T-2"],
      "last_ticket": _ticket("T-3", "closed", "2026-08-30T12:00:00")},
     LOW_RISK, {"follow_up_open_ticket"}),
    ({"open_tickets": 1, "open_ticket_ids": ["T-7"],
      "last_ticket": _ticket("T-7", "pending", "2026-08-30T12:00:00"),
      "account_tier": "premium"},
     HIGH_RISK, {"escalate_at_risk_high_value", "follow_up_open_ticket"}),
    ({"open_tickets": 1, "open_ticket_ids": ["T-8"], "net_spend": 500.0,
      "last_ticket": _ticket("T-9", "solved", "2026-08-31T12:00:00")},
     HIGH_RISK, {"escalate_at_risk_high_value", "follow_up_open_ticket"}),
    ({"cart": [_line("S1", "toys", "2026-08-31T10:00:00"),
               _line("S2", "shoes", "2026-08-31T11:00:00")],
      "cart_value": 20.0, "intent": "checkout"},
     LOW_RISK, {"complete_checkout", "suggest_complementary_category"}),
    ({"cart": [_line("S3", "beauty", "2026-08-31T10:00:00")], "cart_value": 10.0,
      "intent": "cart"},
     HIGH_RISK, {"suggest_complementary_category", "win_back"}),
]


def test_every_shipped_rule_has_a_fact_check_and_a_case_that_fires_it():
    shipped = {rule.name for rule in SHIPPED.actions}
    assert set(FACTS) == shipped
    assert set().union(*(fired for _p, _s, fired in CASES)) == shipped


def _rows() -> tuple[list[dict], list[dict]]:
    profiles, snapshots = [], []
    for i, (fields, snapshot, _fired) in enumerate(CASES):
        pid = f"p_{i:016x}"
        profiles.append(profile(pid, **{"account_tier": "standard", "net_spend": 100.0,
                                        **fields}))
        snapshots.append({"profile_id": pid, "as_of": SNAPSHOT_AT, "rule_segments": [],
                          "cluster_name": None, "rfm_label": None, **snapshot})
    return profiles, snapshots


@pytest.fixture(scope="module")
def spark_documents(spark) -> dict[str, dict]:
    profiles, snapshots = _rows()
    segments = spark.createDataFrame(snapshots, SEGMENT_SCHEMA)
    out = build_export(profiles_df(spark, profiles), segments, params=SHIPPED,
                       exported_at=EXPORTED_AT)
    return {r.profile_id: json.loads(r.document) for r in out.collect()}


@pytest.mark.parametrize("engine", ["spark", "python"])
def test_each_hint_states_only_facts_of_its_profile(engine, request):
    profiles, snapshots = _rows()
    docs = (request.getfixturevalue("spark_documents") if engine == "spark" else {
        p["profile_id"]: export_document(p, SHIPPED, EXPORTED_AT, s)
        for p, s in zip(profiles, snapshots, strict=True)
    })
    for p, s, (_f, _snap, fired) in zip(profiles, snapshots, CASES, strict=True):
        actions = docs[p["profile_id"]]["next_best_actions"]
        assert {a["name"] for a in actions} == fired, (p["profile_id"], actions)
        for action in actions:
            assert FACTS[action["name"]](action["hint"], p, s), (p["profile_id"], action)


def test_the_follow_up_never_quotes_the_closed_latest_ticket():
    profiles, snapshots = _rows()
    doc = export_document(profiles[0], SHIPPED, EXPORTED_AT, snapshots[0])
    [hint] = [a["hint"] for a in doc["next_best_actions"] if a["name"] == "follow_up_open_ticket"]
    assert hint == "Open tickets: T-1, T-2. Give a status update."
