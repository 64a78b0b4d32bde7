"""The reference chatbot: one turn = (message, profile from the read API) → reply.

Personalization rules:
- Greeting in the customer's language (en, de, fr, es) and by tier (premium customers hear
  they have priority), with their first name.
- Order status: the last order (id and date) and the status of an open ticket.
- Cart help: what is in the cart, its value, checkout help, a complementary category.
- Escalation: a customer the export flags ``escalate_at_risk_high_value`` (churn risk, high
  value, open ticket) is handed to a senior agent whatever they asked; so is anyone who asks
  for a human or complains.
- Probable activity (what the customer's own device browsed before the login, a guess with a
  confidence): only ever a question ("were you looking at …?"), asked on a greeting, a general
  question or an empty cart, never on an escalation, an order or a ticket, and never stated
  as a fact. The newest viewed product is asked about, else the newest browsed category.
- No profile, or personalization consent off: generic answers in the default language, no name.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from pipelines.chatbot import replies
from pipelines.chatbot.intents import detect_intent

ESCALATION_ACTION = "escalate_at_risk_high_value"


@dataclass
class Reply:
    text: str
    intent: str
    language: str
    personalized: bool
    handover: bool = False
    actions: list[str] = field(default_factory=list)
    profile_id: str | None = None
    profile_version: int | None = None
    staleness_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _money(value: Any) -> str:
    return f"{float(value or 0):,.2f}"


class ChatBot:
    def __init__(self, default_language: str = "en"):
        self.default_language = default_language

    def reply(self, message: str, profile: dict[str, Any] | None) -> Reply:
        return self.answer(detect_intent(message), profile)

    def answer(self, intent: str, profile: dict[str, Any] | None) -> Reply:
        """The reply for a detected intent: it depends on nothing else but the profile, which
        is why the chat audit can leave the message out (profilake-explain renders it again)."""
        personal = bool(profile) and bool(profile.get("personalization_allowed"))
        p = profile if personal else {}
        language = (p.get("language") or self.default_language).lower()
        if language not in replies.GREETINGS:
            language = self.default_language
        actions = [a["name"] for a in (p.get("next_best_actions") or [])]
        lines = [
            replies.greeting(language, (p.get("account_tier") or "").lower(), p.get("first_name"))
        ]
        handover = False
        if ESCALATION_ACTION in actions or intent == "escalation":
            handover = True
            ticket = (p.get("last_ticket") or {}).get("ticket_id")
            lines.append(
                replies.text(language, "escalate", ticket=ticket)
                if ticket
                else replies.text(language, "escalate_generic")
            )
        elif intent == "order_status":
            lines += self._order(language, p, personal)
        elif intent == "cart_help":
            lines += self._cart(language, p, personal)
        elif intent == "greeting":
            lines.append(replies.text(language, "how_help"))
            lines += self._probable(language, p)
        else:
            lines.append(replies.text(language, "other"))
            lines += self._probable(language, p)
        return Reply(
            text=" ".join(lines),
            intent=intent,
            language=language,
            personalized=personal,
            handover=handover,
            actions=actions,
            profile_id=profile.get("profile_id") if profile else None,
            profile_version=profile.get("profile_version") if profile else None,
            staleness_s=profile.get("staleness_s") if profile else None,
        )

    @staticmethod
    def _order(language: str, p: dict[str, Any], personal: bool) -> list[str]:
        if not personal:
            return [replies.text(language, "order_generic")]
        lines = []
        if p.get("last_order_id"):
            date = str(p.get("last_order_at") or "")[:10]
            lines.append(replies.text(language, "order_last", order=p["last_order_id"], date=date))
        else:
            lines.append(replies.text(language, "order_none"))
        ticket = p.get("last_ticket") or {}
        if (p.get("open_tickets") or 0) > 0 and ticket.get("ticket_id"):
            lines.append(
                replies.text(
                    language,
                    "ticket_status",
                    ticket=ticket["ticket_id"],
                    category=ticket.get("category") or "-",
                    status=ticket.get("status") or "open",
                )
            )
        return lines

    @staticmethod
    def _cart(language: str, p: dict[str, Any], personal: bool) -> list[str]:
        if not personal:
            return [replies.text(language, "cart_generic")]
        cart = p.get("cart") or []
        if not cart:
            return [replies.text(language, "cart_empty"), *ChatBot._probable(language, p)]
        count = sum(int(line.get("quantity") or 1) for line in cart)
        lines = [
            replies.text(language, "cart_items", count=count, value=_money(p.get("cart_value")))
        ]
        if p.get("intent") == "checkout":
            lines.append(replies.text(language, "cart_checkout"))
        if p.get("complementary_category"):
            lines.append(
                replies.text(language, "cart_suggest", category=p["complementary_category"])
            )
        return lines

    @staticmethod
    def _probable(language: str, p: dict[str, Any]) -> list[str]:
        """The soft suggestion from the probable tier, if the profile carries any."""
        viewed = p.get("probable_last_viewed") or {}
        if viewed.get("sku") and viewed.get("category"):
            return [replies.text(language, "probable_viewed", sku=viewed["sku"],
                                 category=viewed["category"])]
        if viewed.get("sku"):
            return [replies.text(language, "probable_viewed_sku", sku=viewed["sku"])]
        categories = p.get("probable_recent_categories") or []
        if categories:
            return [replies.text(language, "probable_browsed", category=categories[0])]
        return []


class ApiClient:
    """The read API over HTTP (any ``httpx.Client``, e.g. a FastAPI ``TestClient``)."""

    def __init__(self, http: httpx.Client, api_key: str):
        self.http = http
        self.headers = {"X-API-Key": api_key}

    @classmethod
    def connect(cls, base_url: str, api_key: str, timeout: float = 2.0) -> ApiClient:
        return cls(httpx.Client(base_url=base_url, timeout=timeout), api_key)

    def lookup(self, id_type: str, id_value: str) -> dict[str, Any] | None:
        from urllib.parse import quote

        r = self.http.get(f"/v1/lookup/{id_type}/{quote(id_value, safe='')}", headers=self.headers)
        if r.status_code == 404:
            return None
        r.raise_for_status()
        return r.json()


def converse(api: ApiClient, bot: ChatBot, id_type: str, id_value: str, message: str) -> Reply:
    """One turn: look the customer up through the API, then answer."""
    return bot.reply(message, api.lookup(id_type, id_value))
