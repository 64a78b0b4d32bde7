"""Reply templates: greetings in en/de/fr/es by tier, the other intents per language with
English as the fallback. ``{name}`` is the customer's first name (or nothing)."""

from __future__ import annotations

GREETINGS: dict[str, dict[str, str]] = {
    "en": {
        "premium": "Welcome back{name}! As a Premium member you're first in line today.",
        "standard": "Hi{name}, good to see you again.",
        "free": "Hi{name}!",
        "anonymous": "Hello!",
    },
    "de": {
        "premium": "Willkommen zurück{name}! Als Premium-Mitglied sind Sie bei uns zuerst dran.",
        "standard": "Hallo{name}, schön, dass Sie wieder da sind.",
        "free": "Hallo{name}!",
        "anonymous": "Hallo!",
    },
    "fr": {
        "premium": "Bon retour{name} ! En tant que membre Premium, vous êtes prioritaire.",
        "standard": "Bonjour{name}, ravi de vous revoir.",
        "free": "Bonjour{name} !",
        "anonymous": "Bonjour !",
    },
    "es": {
        "premium": "¡Bienvenido de nuevo{name}! Como miembro Premium, tiene prioridad.",
        "standard": "Hola{name}, qué gusto verle de nuevo.",
        "free": "¡Hola{name}!",
        "anonymous": "¡Hola!",
    },
}

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "how_help": "How can I help you today?",
        "order_last": "Your last order {order} was placed on {date}.",
        "order_none": "I can't see any order on your account yet.",
        "order_generic": "Please give me your order number and I'll check its status.",
        "ticket_status": "Your ticket {ticket} about {category} is currently {status}.",
        "cart_items": "You have {count} item(s) worth {value} in your cart.",
        "cart_empty": "Your cart is empty at the moment.",
        "cart_checkout": "I see you started checking out — shall I help with payment or delivery?",
        "cart_suggest": "Customers who buy this often add something from {category}.",
        "cart_generic": "I can help with your cart, payment and discount codes.",
        "escalate": "I'm sorry about the trouble. I'm connecting you with a senior agent right "
        "now about ticket {ticket}.",
        "escalate_generic": "I'm sorry about the trouble. Let me connect you with an agent.",
        "other": "I can help with orders, your cart or a support ticket.",
        "probable_viewed": "Were you looking at {sku} in {category}?",
        "probable_viewed_sku": "Were you looking at {sku}?",
        "probable_browsed": "Were you looking at something in {category}?",
    },
    "de": {
        "how_help": "Wie kann ich Ihnen heute helfen?",
        "order_last": "Ihre letzte Bestellung {order} haben Sie am {date} aufgegeben.",
        "order_none": "Ich sehe noch keine Bestellung in Ihrem Konto.",
        "order_generic": "Nennen Sie mir bitte Ihre Bestellnummer, dann prüfe ich den Status.",
        "ticket_status": "Ihr Ticket {ticket} zum Thema {category} ist derzeit {status}.",
        "cart_items": "In Ihrem Warenkorb liegen {count} Artikel im Wert von {value}.",
        "cart_empty": "Ihr Warenkorb ist gerade leer.",
        "cart_checkout": "Sie haben den Bezahlvorgang begonnen — soll ich helfen?",
        "cart_suggest": "Dazu passt oft etwas aus {category}.",
        "cart_generic": "Ich helfe gern beim Warenkorb, der Zahlung und Gutscheinen.",
        "escalate": "Das tut mir leid. Ich verbinde Sie sofort mit einem erfahrenen Mitarbeiter "
        "zu Ticket {ticket}.",
        "escalate_generic": "Das tut mir leid. Ich verbinde Sie mit einem Mitarbeiter.",
        "other": "Ich helfe bei Bestellungen, Ihrem Warenkorb oder einem Support-Ticket.",
        "probable_viewed": "Haben Sie sich {sku} aus {category} angesehen?",
        "probable_viewed_sku": "Haben Sie sich {sku} angesehen?",
        "probable_browsed": "Haben Sie sich etwas aus {category} angesehen?",
    },
    "fr": {
        "how_help": "Comment puis-je vous aider ?",
        "order_last": "Votre dernière commande {order} date du {date}.",
        "escalate": "Je suis désolé. Je vous mets tout de suite en relation avec un conseiller "
        "pour le ticket {ticket}.",
    },
    "es": {
        "how_help": "¿En qué puedo ayudarle hoy?",
        "order_last": "Su último pedido {order} se realizó el {date}.",
        "escalate": "Lo siento. Le paso ahora mismo con un agente por el ticket {ticket}.",
    },
}


def greeting(language: str, tier: str, name: str | None) -> str:
    templates = GREETINGS.get(language, GREETINGS["en"])
    key = tier if tier in templates else ("anonymous" if not name else "free")
    return templates[key].format(name=f" {name}" if name else "")


def text(language: str, key: str, **values: object) -> str:
    template = TEXTS.get(language, {}).get(key) or TEXTS["en"][key]
    return template.format(**values)
