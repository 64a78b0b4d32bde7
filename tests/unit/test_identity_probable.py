"""The probable identity tier (pipelines/identity/probable.py) on hand-built records.

Each case's expected links are worked out by hand from the rule in docs/identity.md
("Probable links"): exactly one customer ever logged in on the device, at most 3 cookies on it,
confidence 0.97 - 0.05 x other cookies after a handoff (the cookie's browsing runs into the
login within 600 s), 0.85 - 0.25 x other cookies without one, 0.3 when the customer logged in
there with a cookie of their own; kept from 0.3 up. Profile ids are "p_" + sha256 of the
component's smallest "type:value", computed here with hashlib.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from pipelines.identity import IdentityParams
from pipelines.identity.probable import ProbableParams, probable_links, served
from pipelines.schemas.events import IDENTIFIER_TYPES

OBS = (
    "record_id string, event_time timestamp, identifiers struct<"
    + ", ".join(f"{t}: string" for t in IDENTIFIER_TYPES)
    + ">"
)
T0 = datetime(2026, 8, 1, tzinfo=UTC)
NOW = datetime(2026, 9, 1, tzinfo=UTC)
IDENTITY = IdentityParams()
PROBABLE = ProbableParams()


def pid(smallest_key: str) -> str:
    return "p_" + hashlib.sha256(smallest_key.encode()).hexdigest()[:16]


def rec(rid: str, seconds: int, **ids: str) -> tuple[str, int, dict[str, str]]:
    return rid, seconds, ids


HOUR = 3600
# The shop's app on C1's phone: browse as a-1, log in (customer + device, no cookie) 90 s
# later; a later anonymous-only session of a-1; a reset cookie a-2 that never hands off.
PHONE = [
    rec("p1", 0, device_id="d-phone", anonymous_id="a-1"),
    rec("p2", 60, device_id="d-phone", anonymous_id="a-1"),
    rec("p3", 150, device_id="d-phone", customer_id="C1"),
    rec("p4", 30 * HOUR, device_id="d-phone", anonymous_id="a-1"),
    rec("p5", 50 * HOUR, device_id="d-phone", anonymous_id="a-2"),
    rec("p6", 80 * HOUR, device_id="d-phone", customer_id="C1"),  # 30 h later: no handoff
]
LONE = [
    rec("r1", 0, device_id="d-lone", anonymous_id="a-lone"),
    rec("r2", 601, device_id="d-lone", customer_id="C2"),  # one second past the window
]
# Mum logs in with her own cookie; the child's cookie browses right before her login.
TABLET = [
    rec("k1", 0, device_id="d-tab", anonymous_id="a-kid"),
    rec("m1", 100, device_id="d-tab", anonymous_id="a-mum", customer_id="C3"),
]
LIBRARY = [
    *[rec(f"v{i}", i * HOUR, device_id="d-lib", anonymous_id=f"a-lib{i}") for i in range(4)],
    rec("l1", 3 * HOUR + 60, device_id="d-lib", customer_id="C4"),
]
# The same small PC with three cookies: within the limit.
SMALL_PC = [
    *[rec(f"w{i}", i * HOUR, device_id="d-pc", anonymous_id=f"a-pc{i}") for i in range(1, 4)],
    rec("l2", 3 * HOUR + 60, device_id="d-pc", customer_id="C5"),
]
STRONG_OR_TORN = [
    rec("s1", 0, device_id="d-s", anonymous_id="a-strong"),
    rec("s2", 60, device_id="d-s", customer_id="C6", anonymous_id="a-strong"),
    rec("t1", 0, device_id="d-t2", anonymous_id="a-both"),
    rec("t2", 60, device_id="d-t2", customer_id="C7"),
    rec("t3", HOUR, device_id="d-t3", anonymous_id="a-both"),
    rec("t4", HOUR + 60, device_id="d-t3", customer_id="C8"),
]
# The phone again (C10's), but a second customer logs in on it later: contradicted.
CONTRADICTED = [
    rec("c1", 0, device_id="d-phone-b", anonymous_id="a-b1"),
    rec("c2", 60, device_id="d-phone-b", customer_id="C10"),
    rec("c3", 90 * HOUR, device_id="d-phone-b", customer_id="C11"),
]
ALL = PHONE + LONE + TABLET + LIBRARY + SMALL_PC + STRONG_OR_TORN + CONTRADICTED


def observations(spark, records):
    rows = [(rid, T0 + timedelta(seconds=s), tuple(ids.get(t) for t in IDENTIFIER_TYPES))
            for rid, s, ids in records]
    return spark.createDataFrame(rows, OBS)


def strong_links(spark):
    """The strong links of ``ALL``, by hand (docs/identity.md rules 1 and 5): every device
    here has a login, so it is weak and links nothing; a record's cookie and customer id are
    one profile named after the smaller key; every other cookie is a profile of its own."""
    together = {"C3": "a-mum", "C6": "a-strong"}
    rows = [("customer_id", f"C{i}", pid(f"anonymous_id:{together[f'C{i}']}")
             if f"C{i}" in together else pid(f"customer_id:C{i}")) for i in range(1, 12)]
    cookies = {ids["anonymous_id"] for _, _, ids in ALL if "anonymous_id" in ids}
    rows += [("anonymous_id", a, pid(f"anonymous_id:{a}")) for a in sorted(cookies)]
    return spark.createDataFrame(
        [(*r, False) for r in rows],
        "id_type string, id_value string, profile_id string, shared boolean")


@pytest.fixture(scope="module")
def strong(spark):
    return observations(spark, ALL), strong_links(spark)


def links_of(obs, links, params: ProbableParams = PROBABLE) -> dict[str, tuple]:
    out = probable_links(obs, links, IDENTITY, params, now=NOW)
    return {r.anonymous_id: (r.profile_id, r.confidence, r.evidence, r.device_id)
            for r in out.collect()}


def test_every_case_scores_as_worked_out_by_hand(strong) -> None:
    got = links_of(*strong)
    assert got == {
        # Two cookies on the phone: a-1 handed off (0.97 - 0.05), a-2 did not (0.85 - 0.25).
        "a-1": (pid("customer_id:C1"), 0.92, "handoff", "d-phone"),
        "a-2": (pid("customer_id:C1"), 0.6, "device_only", "d-phone"),
        # A lone cookie, login 601 s later: no handoff.
        "a-lone": (pid("customer_id:C2"), 0.85, "device_only", "d-lone"),
        # The tablet: mum has a cookie of her own there, so the child's is someone else's.
        "a-kid": (pid("anonymous_id:a-mum"), 0.3, "own_cookie", "d-tab"),
        # The small PC: three cookies; a-pc3 handed off (0.97 - 2 x 0.05), the others
        # did not (0.85 - 2 x 0.25). The library PC (four cookies) and a-strong (its own
        # profile holds C6) and a-both (two customers' devices) attach nowhere; nor does
        # a-b1, whose phone is the first one's twin but for C11's later login there.
        "a-pc1": (pid("customer_id:C5"), 0.35, "device_only", "d-pc"),
        "a-pc2": (pid("customer_id:C5"), 0.35, "device_only", "d-pc"),
        "a-pc3": (pid("customer_id:C5"), 0.87, "handoff", "d-pc"),
    }
    assert {k for k, v in got.items() if v[1] >= PROBABLE.serving_threshold} == {
        "a-1", "a-lone", "a-pc3"}


def test_switched_off_or_thresholds(strong) -> None:
    assert links_of(*strong, ProbableParams(enabled=False)) == {}
    kept = links_of(*strong, ProbableParams(min_confidence=0.7))
    assert set(kept) == {"a-1", "a-lone", "a-pc3"}


def test_served_keeps_links_at_or_above_the_threshold(spark) -> None:
    rows = [("a-1", 0.8), ("a-2", 0.79)]
    df = spark.createDataFrame(rows, "anonymous_id string, confidence double")
    assert [r.anonymous_id for r in served(df, PROBABLE).collect()] == ["a-1"]


def test_params_reject_scores_outside_zero_one() -> None:
    from pipelines.config import ConfigError

    with pytest.raises(ConfigError, match="probable"):
        ProbableParams(serving_threshold=1.5)


def test_conf_declares_the_documented_defaults() -> None:
    from pipelines.config import load_conf

    assert ProbableParams.from_conf(load_conf("local")) == ProbableParams()
    assert not ProbableParams.from_conf(load_conf("test")).enabled  # tests turn it on


def test_probable_scores_judge_added_pairs_and_links_by_hand(spark) -> None:
    """Person A: a customer record r1 and two anonymous records r2, r3 (cookie a1); person B:
    r4 (cookie b1 on a family tablet). Strong: {r1} {r2 r3} {r4}. Links a1 -> P1 (right) and
    b1 -> P1 (wrong) put all four together: added pairs r1r2 r1r3 r1r4 r2r4 r3r4, of which
    r1r2 and r1r3 are right: 2/5. Every true pair (A's three) is together: recall 1.0."""
    from pipelines.identity.evaluation import probable_scores

    def ids(**values: str) -> tuple:
        return tuple(values.get(t) for t in IDENTIFIER_TYPES)

    records = spark.createDataFrame([
        ("r1", "A", ids(customer_id="C1")),
        ("r2", "A", ids(anonymous_id="a1")),
        ("r3", "A", ids(anonymous_id="a1")),
        ("r4", "B", ids(anonymous_id="b1", device_id="tab")),
    ], "record_id string, person_id string, identifiers struct<"
       + ", ".join(f"{t}: string" for t in IDENTIFIER_TYPES) + ">")
    predicted = spark.createDataFrame(
        [("r1", "P1"), ("r2", "P2"), ("r3", "P2"), ("r4", "P3")],
        "record_id string, profile_id string")
    truth = spark.createDataFrame([
        ("customer_id", "C1", "A", False, False), ("anonymous_id", "a1", "A", False, False),
        ("anonymous_id", "b1", "B", False, False), ("device_id", "tab", "A", True, False),
        ("device_id", "tab", "B", True, False),
    ], "id_type string, id_value string, person_id string, shared boolean, "
       "deny_listed boolean")
    probable = spark.createDataFrame(
        [("a1", "P1", "C1", "phone"), ("b1", "P1", "C1", "tab")],
        "anonymous_id string, profile_id string, customer_id string, device_id string")
    scores = probable_scores(predicted, records, truth, probable)
    assert scores == {
        "probable_precision": 0.4, "probable_added_pairs": 5, "recall_with_probable": 1.0,
        "recall_with_probable_raw": 1.0, "probable_links": 2, "probable_link_precision": 0.5,
        "wrong_on_shared_devices": 1,
    }


def test_erasure_removes_the_links_that_point_at_or_come_from_the_person(spark) -> None:
    """docs/operations.md: a probable link goes when it is attached to one of the person's
    profiles, or carries their anonymous, customer or device id, or their anonymous profile."""
    from pipelines.privacy.subject import Subject
    from pipelines.privacy.tables import TABLE_RULES

    rows = [("a-1", "P1", "C1", "d-1", "PA1"), ("a-2", "P2", "C2", "d-2", "PA2"),
            ("a-3", "P3", "C3", "d-3", "PX"), ("a-4", "P4", "C9", "d-4", "PA4"),
            ("a-5", "P5", "C5", "d-9", "PA5"), ("a-6", "P6", "C6", "d-6", "PA6")]
    df = spark.createDataFrame(rows, "anonymous_id string, profile_id string, customer_id "
                                     "string, device_id string, anonymous_profile_id string")
    subject = Subject("customer_id", "C9", frozenset({"P1", "PX"}),
                      {"anonymous_id": frozenset({"a-2"}), "device_id": frozenset({"d-9"})})
    rule = TABLE_RULES["identity_probable_links"]
    assert sorted(r.anonymous_id for r in df.where(rule(df, subject)).collect()) == [
        "a-1", "a-2", "a-3", "a-4", "a-5"]
