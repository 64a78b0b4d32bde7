"""The profile fold (ARCHITECTURE §3.3) on tiny hand-built histories.

Expected values are worked out from the business rules in pipelines/profiles/finalize.py.
"""

from __future__ import annotations

import random

import pytest

from pipelines.profiles import finalize_local, state_local
from pipelines.profiles.finalize import finalize
from pipelines.profiles.state import fold_events, merge_states
from tests.events_factory import event, events_df, ts

AS_OF = ts("2026-09-30T23:00:00")


def _profile(spark, rows, as_of=AS_OF):
    out = finalize(fold_events(events_df(spark, rows)), as_of).collect()
    assert len(out) == 1
    return out[0]


def test_static_attribute_takes_latest_event_time_not_latest_arrival(spark):
    rows = [
        event(
            "e2", "profile_updated", "2026-09-02T10:00:00", attributes={"account_tier": "premium"}
        ),
        event(
            "e1",
            "profile_updated",
            "2026-09-01T10:00:00",
            attributes={"account_tier": "free", "country": "DE"},
        ),  # arrives last, older
    ]
    p = _profile(spark, rows)
    assert p.account_tier == "premium" and p.account_tier_set_at == ts("2026-09-02T10:00:00")
    assert p.country == "DE" and p.country_set_at == ts("2026-09-01T10:00:00")


def test_equal_event_times_break_ties_on_event_id(spark):
    rows = [
        event(i, "profile_updated", "2026-09-01T10:00:00", attributes={"language": lang})
        for i, lang in [("e-b", "fr"), ("e-a", "de"), ("e-c", "es")]
    ]
    assert _profile(spark, rows).language == "es"


def test_spend_is_net_of_refunds_and_windowed_before_as_of(spark):
    rows = [
        event("o1", "order_placed", "2026-05-01T10:00:00", order_id="A", amount=200.0),  # > 90 d
        event("o2", "order_placed", "2026-09-20T10:00:00", order_id="B", amount=100.0),
        event("o3", "order_placed", "2026-09-25T10:00:00", order_id="C", amount=60.0),
        event("r1", "order_refunded", "2026-09-26T10:00:00", order_id="C", amount=60.0),
    ]
    p = _profile(spark, rows)
    assert (p.orders_count, p.refunds_count) == (3, 1)
    assert p.net_spend == 300.0  # 200 + 100 + 60 - 60
    assert p.avg_order_value == 120.0  # 360 / 3
    assert (p.orders_30d, p.spend_30d) == (2, 100.0)  # B and C, minus C's refund
    assert (p.orders_365d, p.spend_365d) == (3, 300.0)
    assert p.last_order_id == "C" and p.first_order_at == ts("2026-05-01T10:00:00")


def test_a_profile_without_orders_has_spent_zero_gross_and_net_in_both_engines(spark):
    """gross_spend and net_spend are 0 (not null) when nothing was ordered; avg_order_value
    stays null (no orders to average over)."""
    rows = [
        event("v1", "page_view", "2026-09-20T10:00:00", url="/", session_id="s1"),
        event("t1", "ticket_opened", "2026-09-21T10:00:00", ticket_id="T-1", channel="chat",
              priority="low", category="billing", status="open"),
    ]
    p = _profile(spark, rows)
    assert (p.orders_count, p.gross_spend, p.net_spend, p.avg_order_value) == (0, 0.0, 0.0, None)

    state = state_local.empty()
    for row in rows:
        state = state_local.merge(state, state_local.unit_state(row))
    local = finalize_local.finalize(state, AS_OF)
    assert (state["gross_spend"], local["net_spend"], local["avg_order_value"]) == (0.0, 0.0, None)


def test_cart_adds_removes_and_is_cleared_by_what_was_ordered(spark):
    item = {"sku": "S1", "category": "shoes", "quantity": 1, "unit_price": 50.0}
    rows = [
        event(
            "c1",
            "add_to_cart",
            "2026-09-01T10:00:00",
            sku="S1",
            category="shoes",
            quantity=1,
            unit_price=50.0,
            currency="EUR",
        ),
        event(
            "c2",
            "add_to_cart",
            "2026-09-01T10:01:00",
            sku="S1",
            category="shoes",
            quantity=2,
            unit_price=50.0,
            currency="EUR",
        ),
        event(
            "c3",
            "add_to_cart",
            "2026-09-01T10:02:00",
            sku="S2",
            category="socks",
            quantity=1,
            unit_price=5.0,
            currency="EUR",
        ),
        event(
            "c4",
            "add_to_cart",
            "2026-09-01T10:03:00",
            sku="S3",
            category="hats",
            quantity=1,
            unit_price=20.0,
            currency="EUR",
        ),
        event(
            "c5",
            "remove_from_cart",
            "2026-09-01T10:04:00",
            sku="S3",
            category="hats",
            quantity=1,
            unit_price=20.0,
            currency="EUR",
        ),
    ]
    p = _profile(spark, rows)
    assert {(line.sku, line.quantity) for line in p.cart} == {("S1", 3), ("S2", 1)}
    assert p.cart_value == 155.0 and p.intent == "cart"
    assert p.cart_updated_at == ts("2026-09-01T10:04:00")

    checkout = event(
        "k1", "checkout_started", "2026-09-01T10:05:00", cart_value=155.0, currency="EUR"
    )
    assert _profile(spark, [*rows, checkout]).intent == "checkout"

    order = event(
        "o1",
        "order_placed",
        "2026-09-01T10:06:00",
        order_id="A",
        amount=150.0,
        currency="EUR",
        items=[item],
    )
    p = _profile(spark, [*rows, checkout, order])
    assert [(line.sku, line.quantity) for line in p.cart] == [("S2", 1)]


def test_late_add_before_an_order_does_not_resurrect_the_line(spark):
    rows = [
        event(
            "o1",
            "order_placed",
            "2026-09-01T12:00:00",
            order_id="A",
            amount=50.0,
            items=[{"sku": "S1", "category": "shoes", "quantity": 1, "unit_price": 50.0}],
        ),
        # arrives after the order but happened before it
        event(
            "c1",
            "add_to_cart",
            "2026-09-01T11:00:00",
            sku="S1",
            category="shoes",
            quantity=1,
            unit_price=50.0,
        ),
    ]
    p = _profile(spark, rows)
    assert p.cart == [] and p.intent is None


def test_open_tickets_follow_each_tickets_latest_status(spark):
    t = {"channel": "email", "priority": "high", "category": "delivery"}
    rows = [
        event("t1", "ticket_opened", "2026-09-01T10:00:00", ticket_id="T1", status="open", **t),
        event("t2", "ticket_updated", "2026-09-02T10:00:00", ticket_id="T1", status="pending", **t),
        event("t3", "ticket_opened", "2026-09-03T10:00:00", ticket_id="T2", status="open", **t),
        event("t4", "ticket_closed", "2026-09-04T10:00:00", ticket_id="T2", status="closed", **t),
        # a late, older update must not reopen T2
        event("t0", "ticket_updated", "2026-09-03T12:00:00", ticket_id="T2", status="open", **t),
        event("s1", "csat_submitted", "2026-09-05T10:00:00", ticket_id="T2", score=4),
        event("s2", "csat_submitted", "2026-09-06T10:00:00", ticket_id="T1", score=1),
    ]
    p = _profile(spark, rows)
    assert (p.open_tickets, p.open_ticket_ids, p.tickets_total) == (1, ["T1"], 2)
    assert p.last_ticket.ticket_id == "T2" and p.last_ticket.status == "closed"
    assert p.avg_csat == 2.5
    assert p.last_contact_at == ts("2026-09-06T10:00:00")


def test_consent_defaults_and_latest_wins(spark):
    view = event("v1", "page_view", "2026-09-01T10:00:00", url="/", session_id="s1")
    p = _profile(spark, [view])
    assert (p.consent_personalization, p.consent_marketing) == (True, False)
    rows = [
        view,
        event(
            "c2", "consent_updated", "2026-09-03T10:00:00", personalization=False, marketing=False
        ),
        event("c1", "consent_updated", "2026-09-02T10:00:00", personalization=True, marketing=True),
    ]
    p = _profile(spark, rows)
    assert (p.consent_personalization, p.consent_marketing) == (False, False)


def test_sessions_views_and_recent_categories(spark):
    rows = [
        event(f"v{i}", "product_view", f"2026-09-0{i}T10:00:00", url="/p", session_id=s, category=c)
        for i, s, c in [
            (1, "s1", "books"),
            (2, "s1", "toys"),
            (3, "s2", "books"),
            (4, "s3", "games"),
        ]
    ]
    p = _profile(spark, rows)
    assert (p.sessions, p.product_views) == (3, 4)
    assert p.recent_categories == ["games", "books", "toys"]


def test_an_orders_categories_are_its_items_and_events_without_one_add_none(spark):
    shoe = {"sku": "S1", "category": "shoes", "quantity": 1, "unit_price": 5.0}
    rows = [
        event("v1", "product_view", "2026-09-01T10:00:00", url="/p", session_id="s",
              category="books"),
        # Two items of one category: the category once; the order's own field is not read.
        event("o1", "order_placed", "2026-09-02T10:00:00", order_id="A", amount=10.0,
              category="ignored", items=[shoe, {**shoe, "sku": "S2"}]),
        # Items without a category, a view without one: no category, and "books" keeps its
        # time.
        event("o2", "order_placed", "2026-09-03T10:00:00", order_id="B", amount=5.0,
              items=[{"sku": "S3", "quantity": 1, "unit_price": 5.0}]),
        event("v2", "page_view", "2026-09-04T10:00:00", url="/q", session_id="s"),
    ]
    assert _profile(spark, rows).recent_categories == ["shoes", "books"]


def _history():
    item = {"sku": "S9", "category": "bags", "quantity": 1, "unit_price": 80.0}
    t = {"channel": "chat", "priority": "normal", "category": "returns"}
    rows = []
    for person in ("p1", "p2"):
        rows += [
            event(
                f"{person}-a",
                "profile_updated",
                "2026-09-01T09:00:00",
                person,
                attributes={"first_name": "Ada", "account_tier": "free"},
            ),
            event(
                f"{person}-b",
                "profile_updated",
                "2026-09-10T09:00:00",
                person,
                attributes={"account_tier": "premium"},
            ),
            event(
                f"{person}-c",
                "add_to_cart",
                "2026-09-02T09:00:00",
                person,
                sku="S9",
                category="bags",
                quantity=1,
                unit_price=80.0,
            ),
            event(
                f"{person}-d",
                "order_placed",
                "2026-09-03T09:00:00",
                person,
                order_id="X",
                amount=80.0,
                items=[item],
            ),
            event(
                f"{person}-e",
                "add_to_cart",
                "2026-09-04T09:00:00",
                person,
                sku="S8",
                category="bags",
                quantity=2,
                unit_price=10.0,
            ),
            event(
                f"{person}-f",
                "page_view",
                "2026-09-04T09:30:00",
                person,
                url="/",
                session_id=f"{person}-s",
            ),
            event(
                f"{person}-g",
                "ticket_opened",
                "2026-09-05T09:00:00",
                person,
                ticket_id="T",
                status="open",
                **t,
            ),
            event(
                f"{person}-h",
                "order_refunded",
                "2026-09-06T09:00:00",
                person,
                order_id="X",
                amount=20.0,
            ),
            event(
                f"{person}-i",
                "chat_message",
                "2026-09-07T09:00:00",
                person,
                conversation_id="c",
                role="customer",
                sentiment=-0.5,
            ),
        ]
    return rows


COMPARED = [
    "profile_id",
    "account_tier",
    "first_name",
    "net_spend",
    "cart",
    "open_tickets",
    "sessions",
    "intent",
    "avg_sentiment",
    "state_hash",
    "spend_30d",
]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_any_order_and_any_split_gives_the_same_profile(spark, seed):
    rows = _history()
    expected = {
        r.profile_id: r
        for r in finalize(fold_events(events_df(spark, rows)), AS_OF).select(*COMPARED).collect()
    }
    shuffled = rows[:]
    random.Random(seed).shuffle(shuffled)
    cut = random.Random(seed).randint(1, len(rows) - 1)
    halves = [fold_events(events_df(spark, part)) for part in (shuffled[:cut], shuffled[cut:])]
    merged = finalize(merge_states(halves[0].unionByName(halves[1])), AS_OF)
    got = {r.profile_id: r for r in merged.select(*COMPARED).collect()}
    assert got == expected
    assert expected["p1"].net_spend == 60.0 and expected["p1"].account_tier == "premium"
    assert [(line.sku, line.quantity) for line in expected["p1"].cart] == [("S8", 2)]


def test_state_hash_changes_only_when_the_state_changes(spark):
    rows = _history()
    a = finalize(fold_events(events_df(spark, rows)), AS_OF).where("profile_id = 'p1'").first()
    b = (
        finalize(fold_events(events_df(spark, rows)), ts("2026-12-01T00:00:00"))
        .where("profile_id = 'p1'")
        .first()
    )
    assert a.state_hash == b.state_hash  # as_of alone is not a change
    extra = event("p1-z", "page_view", "2026-09-08T09:00:00", "p1", url="/", session_id="z")
    c = (
        finalize(fold_events(events_df(spark, [*rows, extra])), AS_OF)
        .where("profile_id = 'p1'")
        .first()
    )
    assert c.state_hash != a.state_hash
