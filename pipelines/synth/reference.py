"""Static reference data the generator draws from: countries, names, products, labels.

Everything here is fixed (no randomness at import); the product catalog is derived from a
constant seed so prices never change between runs.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

# The shop the sources belong to (URLs, social mentions).
SHOP_URL = "https://www.acmeshop.example"
SHOP_HANDLE = "@AcmeShop"

# Identifiers that occur for many unrelated people and must never link them (ARCHITECTURE §3.4).
TEST_EMAIL = "test@example.com"
DENY_LISTED_EMAILS = (TEST_EMAIL,)


@dataclass(frozen=True)
class Country:
    code: str
    name: str
    share: float
    calling_code: str
    currency: str
    languages: tuple[tuple[str, float], ...]
    zones: tuple[tuple[str, float], ...]
    email_domains: tuple[str, ...]  # the first one is the most common
    area_codes: tuple[str, ...]
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]


COUNTRIES: tuple[Country, ...] = (
    Country(
        "US", "United States", 0.38, "1", "USD",
        (("en", 0.88), ("es", 0.12)),
        (("America/New_York", 0.5), ("America/Chicago", 0.25), ("America/Los_Angeles", 0.25)),
        ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "hotmail.com", "aol.com"),
        ("212", "415", "312", "617", "206", "512", "305", "702"),
        ("James", "Mary", "Michael", "Jennifer", "David", "Linda", "Robert", "Patricia",
         "Daniel", "Jessica", "Christopher", "Sarah", "Matthew", "Emily", "José", "María"),
        ("Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
         "Rodriguez", "Martinez", "Wilson", "Anderson", "Taylor", "Thomas", "Moore", "O'Brien"),
    ),
    Country(
        "GB", "United Kingdom", 0.14, "44", "GBP",
        (("en", 1.0),),
        (("Europe/London", 1.0),),
        ("gmail.com", "outlook.com", "btinternet.com", "yahoo.co.uk", "hotmail.co.uk"),
        ("20",),
        ("Oliver", "Amelia", "George", "Isla", "Harry", "Ava", "Jack", "Olivia", "Charlie",
         "Emily", "Thomas", "Sophie", "William", "Grace", "James", "Lily"),
        ("Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies",
         "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Hughes"),
    ),
    Country(
        "DE", "Germany", 0.14, "49", "EUR",
        (("de", 0.95), ("en", 0.05)),
        (("Europe/Berlin", 1.0),),
        ("gmail.com", "gmx.de", "web.de", "t-online.de", "outlook.de"),
        ("30",),
        ("Lukas", "Anna", "Leon", "Lea", "Finn", "Hannah", "Jonas", "Sophie", "Paul", "Marie",
         "Felix", "Emma", "Maximilian", "Lena", "Jürgen", "Jörg"),
        ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
         "Schulz", "Hoffmann", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder"),
    ),
    Country(
        "FR", "France", 0.10, "33", "EUR",
        (("fr", 1.0),),
        (("Europe/Paris", 1.0),),
        ("gmail.com", "orange.fr", "free.fr", "laposte.net", "hotmail.fr"),
        ("1",),
        ("Gabriel", "Louise", "Léo", "Emma", "Raphaël", "Jade", "Arthur", "Alice", "Louis",
         "Chloé", "Jules", "Léa", "Hugo", "Manon", "François", "Camille"),
        ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
         "Leroy", "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "Fournier"),
    ),
    Country(
        "CA", "Canada", 0.08, "1", "CAD",
        (("en", 0.75), ("fr", 0.25)),
        (("America/Toronto", 0.65), ("America/Vancouver", 0.35)),
        ("gmail.com", "outlook.com", "hotmail.ca", "yahoo.ca", "shaw.ca"),
        ("416", "604", "514", "613", "403", "902"),
        ("Liam", "Olivia", "Noah", "Emma", "William", "Charlotte", "Benjamin", "Amelia",
         "Lucas", "Chloé", "Étienne", "Sophie", "Jacob", "Alice", "Nathan", "Léa"),
        ("Smith", "Tremblay", "Brown", "Roy", "Martin", "Wilson", "Gagnon", "MacDonald",
         "Taylor", "Côté", "Campbell", "Bouchard", "Anderson", "Gauthier", "Lee", "Morin"),
    ),
    Country(
        "ES", "Spain", 0.08, "34", "EUR",
        (("es", 0.9), ("ca", 0.1)),
        (("Europe/Madrid", 1.0),),
        ("gmail.com", "hotmail.es", "yahoo.es", "outlook.es", "telefonica.net"),
        ("91",),
        ("Hugo", "Lucía", "Martín", "Sofía", "Mateo", "María", "Pablo", "Martina", "Álvaro",
         "Paula", "Alejandro", "Julia", "Daniel", "Carmen", "Javier", "Elena"),
        ("García", "Rodríguez", "González", "Fernández", "López", "Martínez", "Sánchez",
         "Pérez", "Gómez", "Martín", "Jiménez", "Ruiz", "Hernández", "Díaz", "Moreno", "Muñoz"),
    ),
    Country(
        "JP", "Japan", 0.08, "81", "JPY",
        (("ja", 0.95), ("en", 0.05)),
        (("Asia/Tokyo", 1.0),),
        ("gmail.com", "yahoo.co.jp", "docomo.ne.jp", "icloud.com", "outlook.jp"),
        ("3",),
        ("Haruto", "Yui", "Sota", "Aoi", "Yuto", "Hina", "Riku", "Mei", "Hiroshi", "Yuki",
         "Takumi", "Sakura", "Kenji", "Akari", "Daiki", "Rin"),
        ("Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito", "Yamamoto", "Nakamura",
         "Kobayashi", "Kato", "Yoshida", "Yamada", "Sasaki", "Yamaguchi", "Matsumoto", "Inoue"),
    ),
)
COUNTRY_CODES = tuple(c.code for c in COUNTRIES)

# Order currencies and their minor units (JPY has no decimals: amount_minor == yen).
CURRENCIES = ("USD", "EUR", "GBP", "CAD", "JPY")
MINOR_DIGITS = {"USD": 2, "EUR": 2, "GBP": 2, "CAD": 2, "JPY": 0}
# Fixed reference rates (units of currency per USD) used to price the catalog.
FX_PER_USD = {"USD": 1.0, "EUR": 0.92, "GBP": 0.79, "CAD": 1.37, "JPY": 155.0}
INVALID_CURRENCY = "XYZ"

TIERS = ("free", "standard", "premium")

# Companies: work e-mail domains and the shared inboxes several employees write from.
COMPANY_DOMAINS = (
    "initech.com", "globex.com", "umbrella-corp.com", "hooli.com", "vandelay.com",
    "wayne-enterprises.com", "stark-industries.com", "wonka.com", "soylent.com",
    "cyberdyne.com", "tyrell.com", "aperture-science.com", "massive-dynamic.com",
    "dunder-mifflin.com", "oceanic-airlines.com", "northwind-traders.com", "contoso.com",
    "fabrikam.com", "adventure-works.com", "tailspin-toys.com",
)

SOCIAL_PLATFORMS = (("twitter", 0.45), ("instagram", 0.35), ("facebook", 0.12), ("tiktok", 0.08))

# Support desk vocabulary.
TICKET_CHANNELS = (("email", 0.45), ("chat", 0.30), ("phone", 0.10), ("web_form", 0.15))
TICKET_CATEGORIES = ("billing", "shipping", "returns", "product_question", "account", "technical")
PRIORITY_CODES = ("P1", "P2", "P3", "P4")
PRIORITY_WORDS = ("urgent", "high", "normal", "low")
PRIORITY_P = (0.05, 0.2, 0.5, 0.25)
TICKET_STATUSES = ("new", "open", "pending", "solved", "closed")

WEB_EVENTS = ("pageview", "product_view", "add_to_cart", "remove_from_cart", "checkout")
HELP_PAGES = ("/help/shipping", "/help/returns", "/help/payment", "/account", "/account/orders")

# Local hour-of-day activity profile (people shop in the evening, sleep at night).
HOURLY_ACTIVITY = np.array(
    [1.0, 0.6, 0.4, 0.3, 0.3, 0.5, 1.0, 2.0, 3.0, 4.0, 4.5, 5.0,
     5.5, 5.0, 4.8, 4.8, 5.0, 5.5, 6.5, 7.5, 7.5, 6.0, 4.0, 2.0]
)

SOCIAL_TEMPLATES = {
    "negative": (
        "Still waiting for my {category} order {shop}, this is ridiculous",
        "{shop} worst customer service ever, nobody answers about my {category} return",
        "Third time my {category} delivery is late. Done with {shop}",
        "{shop} charged me twice for {category} stuff, fix it",
    ),
    "neutral": (
        "Anyone tried the new {category} range from {shop}?",
        "{shop} do you ship {category} items abroad?",
        "Looking at {category} deals on {shop} today",
        "Question for {shop}: how long do {category} returns take?",
    ),
    "positive": (
        "Love my new {category} stuff from {shop}!",
        "{shop} support sorted my {category} issue in minutes, thanks",
        "Best {category} prices around, {shop} never disappoints",
        "Fast delivery from {shop} again, great {category} picks",
    ),
}


@dataclass(frozen=True)
class Archetype:
    """A behaviour pattern; per-person rates scatter around these means."""

    name: str
    share: float
    orders_per_day: float
    basket_usd: float
    tickets_per_day: float
    web_affinity: float  # relative web activity (normalized to the configured mean)
    mentions_per_day: float  # for people with a social handle
    refund_prob: float
    csat_mean: float
    sentiment_mean: float
    unregistered_share: float
    tier_p: tuple[float, float, float]  # free, standard, premium
    web_mix: tuple[float, float, float, float, float]  # WEB_EVENTS after the landing page


ARCHETYPES: tuple[Archetype, ...] = (
    Archetype("champion", 0.08, 0.067, 140.0, 0.002, 1.6, 0.010, 0.03, 4.6, 0.6, 0.0,
              (0.1, 0.4, 0.5), (0.25, 0.40, 0.18, 0.03, 0.14)),
    Archetype("loyal", 0.17, 0.033, 90.0, 0.003, 1.2, 0.008, 0.04, 4.3, 0.4, 0.0,
              (0.25, 0.5, 0.25), (0.28, 0.42, 0.17, 0.04, 0.09)),
    Archetype("occasional", 0.30, 0.011, 60.0, 0.002, 0.6, 0.004, 0.05, 4.0, 0.1, 0.12,
              (0.6, 0.35, 0.05), (0.32, 0.45, 0.13, 0.04, 0.06)),
    Archetype("at_risk", 0.12, 0.017, 70.0, 0.006, 0.5, 0.010, 0.08, 3.4, -0.2, 0.0,
              (0.4, 0.45, 0.15), (0.35, 0.43, 0.12, 0.05, 0.05)),
    Archetype("churned", 0.10, 0.030, 55.0, 0.010, 0.8, 0.015, 0.12, 2.6, -0.5, 0.0,
              (0.5, 0.4, 0.1), (0.35, 0.43, 0.12, 0.05, 0.05)),
    Archetype("support_heavy", 0.08, 0.022, 75.0, 0.045, 0.8, 0.030, 0.15, 2.8, -0.4, 0.0,
              (0.3, 0.5, 0.2), (0.40, 0.38, 0.12, 0.05, 0.05)),
    Archetype("browser", 0.15, 0.001, 45.0, 0.0005, 2.5, 0.004, 0.05, 4.0, 0.1, 0.5,
              (0.9, 0.1, 0.0), (0.25, 0.50, 0.20, 0.04, 0.01)),
)
ARCHETYPE_NAMES = tuple(a.name for a in ARCHETYPES)


@lru_cache(maxsize=4096)
def ascii_fold(text: str) -> str:
    """'Müller' -> 'muller', "O'Brien" -> 'obrien': what people type into an e-mail address."""
    folded = unicodedata.normalize("NFKD", text.replace("ß", "ss"))
    return "".join(ch for ch in folded if ch.isascii() and ch.isalnum()).lower()


@dataclass(frozen=True)
class Catalog:
    """Products sorted by (category, USD price); prices per currency in minor units."""

    categories: tuple[str, ...]
    sku: np.ndarray  # str, e.g. "SKU-11003"
    category: np.ndarray  # int index into categories
    price_usd: np.ndarray  # float
    price_minor: np.ndarray  # int64 [product, currency index in CURRENCIES]
    cat_start: np.ndarray  # first product of each category
    cat_count: np.ndarray


CATEGORY_PRICE_RANGES_USD = {
    "electronics": (25.0, 900.0),
    "home": (10.0, 300.0),
    "fashion": (12.0, 200.0),
    "shoes": (30.0, 220.0),
    "beauty": (6.0, 90.0),
    "sports": (10.0, 400.0),
    "toys": (8.0, 120.0),
    "books": (6.0, 45.0),
}
PRODUCTS_PER_CATEGORY = 24


@lru_cache(maxsize=1)
def catalog() -> Catalog:
    rng = np.random.default_rng(20260801)  # constant: the catalog is reference data
    categories = tuple(CATEGORY_PRICE_RANGES_USD)
    skus, cats, prices = [], [], []
    for ci, name in enumerate(categories):
        lo, hi = CATEGORY_PRICE_RANGES_USD[name]
        usd = np.sort(np.exp(rng.uniform(np.log(lo), np.log(hi), PRODUCTS_PER_CATEGORY)))
        skus += [f"SKU-{10000 + ci * 1000 + j:05d}" for j in range(PRODUCTS_PER_CATEGORY)]
        cats += [ci] * PRODUCTS_PER_CATEGORY
        prices.append(usd)
    price_usd = np.concatenate(prices)
    minor = np.empty((len(price_usd), len(CURRENCIES)), dtype=np.int64)
    for k, cur in enumerate(CURRENCIES):
        local = price_usd * FX_PER_USD[cur]
        if MINOR_DIGITS[cur] == 0:
            # Yen prices end in 80 ("1,980 yen"), like real Japanese price points.
            minor[:, k] = np.maximum(180, np.round(local / 100) * 100 - 20)
        else:
            # "29.99"-style price points, in cents.
            minor[:, k] = np.maximum(99, np.round(local) * 100 - 1)
    n = PRODUCTS_PER_CATEGORY
    return Catalog(
        categories=categories,
        sku=np.array(skus),
        category=np.array(cats, dtype=np.int64),
        price_usd=price_usd,
        price_minor=minor,
        cat_start=np.arange(len(categories), dtype=np.int64) * n,
        cat_count=np.full(len(categories), n, dtype=np.int64),
    )
