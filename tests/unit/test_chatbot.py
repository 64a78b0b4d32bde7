"""The reference chatbot's rules on plain profile dicts (no services)."""

from __future__ import annotations

import pytest

from pipelines.chatbot.bot import ChatBot
from pipelines.chatbot.intents import detect_intent
from pipelines.serving.identifiers import normalize


@pytest.mark.parametrize(
    ("message", "intent"),
    [
        ("hi, where is my order?", "order_status"),
        ("Wo ist meine Bestellung?", "order_status"),
        ("¿Dónde está mi pedido?", "order_status"),
        ("I want to talk to a human", "escalation"),
        ("this is the worst, where is my parcel", "escalation"),
        ("help with my basket", "cart_help"),
        ("Bonjour", "greeting"),
        ("ship it", "other"),  # 'hi' inside a word is no greeting
    ],
)
def test_intents(message, intent):
    assert detect_intent(message) == intent


def profile(**values):
    return {"profile_id": "p_1", "personalization_allowed": True, **values}


@pytest.mark.parametrize(
    ("language", "tier", "expected"),
    [
        ("en", "premium", "Welcome back Ana! As a Premium member you're first in line today."),
        ("de", "standard", "Hallo Ana, schön, dass Sie wieder da sind."),
        ("fr", "free", "Bonjour Ana !"),
        ("es", "premium", "¡Bienvenido de nuevo Ana! Como miembro Premium, tiene prioridad."),
        ("it", "free", "Hi Ana!"),  # no Italian templates: the default language
    ],
)
def test_greeting_by_language_and_tier(language, tier, expected):
    reply = ChatBot().reply(
        "hello", profile(first_name="Ana", language=language, account_tier=tier)
    )
    assert reply.text.startswith(expected)


def test_escalation_wins_over_the_question_for_at_risk_customers():
    at_risk = profile(
        language="en",
        account_tier="premium",
        first_name="Bo",
        next_best_actions=[{"name": "escalate_at_risk_high_value", "hint": "", "priority": 1}],
        last_ticket={"ticket_id": "T-1", "status": "open"},
    )
    reply = ChatBot().reply("can you help with my cart?", at_risk)
    assert reply.handover and reply.intent == "cart_help"
    assert "senior agent right now about ticket T-1" in reply.text


def test_no_profile_or_no_consent_gets_generic_answers():
    masked = {"profile_id": "p_1", "personalization_allowed": False, "language": None}
    for p in (None, masked):
        reply = ChatBot().reply("where is my order", p)
        assert reply.text == "Hello! Please give me your order number and I'll check its status."
        assert not reply.personalized


@pytest.mark.parametrize(
    ("id_type", "value", "normalized"),
    [
        ("email", " Ana@Example.COM ", "ana@example.com"),
        ("email", "not-an-email", None),
        ("phone", "+49 (151) 123-45678", "+4915112345678"),
        ("phone", "0049 151 12345678", "+4915112345678"),
        ("phone", "0151 12345678", None),  # national: the country is unknown here
        ("social_handle", "Twitter: @Ana_B", "twitter:ana_b"),
        ("social_handle", "ana_b", None),
        ("customer_id", " C0000001 ", "C0000001"),
        ("device_id", "   ", None),
    ],
)
def test_lookup_values_normalize_like_the_pipeline(id_type, value, normalized):
    assert normalize(id_type, value) == normalized


# --- the probable tier: a question, never a fact ------------------------------------------------

VIEWED = {"sku": "SKU-42", "category": "shoes", "at": "2026-09-01T10:00:00.000Z"}


@pytest.mark.parametrize(
    ("message", "asked"),
    [
        ("hello", True),  # greeting
        ("ship it", True),  # a general question
        ("can you help with my cart?", True),  # the cart is empty
        ("where is my order", False),  # orders are strong facts only
        ("I want to speak to a human", False),  # escalation
    ],
)
def test_probable_activity_is_only_asked_about(message, asked):
    p = profile(language="en", first_name="Ana", cart=[], probable_last_viewed=VIEWED,
                probable_recent_categories=["shoes", "toys"], probable_confidence=0.92)
    reply = ChatBot().reply(message, p)
    assert ("Were you looking at SKU-42 in shoes?" in reply.text) is asked, reply.text
    assert asked or "SKU-42" not in reply.text


def test_probable_question_falls_back_to_the_newest_category_and_needs_consent():
    p = profile(language="de", probable_recent_categories=["toys", "books"])
    assert ChatBot().reply("hallo", p).text.endswith(
        "Haben Sie sich etwas aus toys angesehen?")
    assert ChatBot().reply("hello", profile(language="en", probable_last_viewed={
        "sku": "SKU-7", "category": None})).text.endswith("Were you looking at SKU-7?")
    masked = profile(personalization_allowed=False, probable_last_viewed=VIEWED)
    assert "SKU-42" not in ChatBot().reply("hello", masked).text
    full_cart = profile(language="en", cart=[{"sku": "SKU-1", "quantity": 1}], cart_value=5.0,
                        probable_last_viewed=VIEWED)
    assert "SKU-42" not in ChatBot().reply("help with my cart", full_cart).text
