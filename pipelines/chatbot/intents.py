"""Intent detection with keyword rules (en, de, fr, es): the first matching intent wins, in
the order of ``INTENTS`` (an explicit complaint beats an order question beats a greeting)."""

from __future__ import annotations

import re
import unicodedata

INTENTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "escalation",
        (
            "agent",
            "human",
            "person",
            "complaint",
            "complain",
            "angry",
            "terrible",
            "worst",
            "unacceptable",
            "manager",
            "cancel my account",
            "mitarbeiter",
            "beschwerde",
            "unverschamt",
            "conseiller",
            "plainte",
            "inacceptable",
            "queja",
            "persona",
            "inaceptable",
        ),
    ),
    (
        "order_status",
        (
            "order",
            "where is my",
            "delivery",
            "deliver",
            "shipping",
            "shipped",
            "tracking",
            "package",
            "parcel",
            "bestellung",
            "lieferung",
            "paket",
            "sendung",
            "commande",
            "livraison",
            "colis",
            "pedido",
            "envio",
            "paquete",
        ),
    ),
    (
        "cart_help",
        (
            "cart",
            "basket",
            "checkout",
            "payment",
            "pay",
            "coupon",
            "discount",
            "warenkorb",
            "kasse",
            "bezahlen",
            "panier",
            "paiement",
            "payer",
            "carrito",
            "pago",
            "pagar",
        ),
    ),
    (
        "greeting",
        (
            "hi",
            "hello",
            "hey",
            "good morning",
            "good evening",
            "hallo",
            "guten tag",
            "moin",
            "servus",
            "bonjour",
            "salut",
            "hola",
            "buenos dias",
            "buenas",
        ),
    ),
)


def _fold(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in plain if not unicodedata.combining(c))


def detect_intent(message: str) -> str:
    """``escalation``, ``order_status``, ``cart_help``, ``greeting`` or ``other``."""
    text = " " + re.sub(r"[^a-z0-9]+", " ", _fold(message)) + " "
    for intent, keywords in INTENTS:
        if any(f" {k} " in text for k in keywords):
            return intent
    return "other"
