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
