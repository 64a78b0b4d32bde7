"""Profile attribute normalization: countries as ISO 3166-1 alpha-2, languages as ISO 639-1."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

# English names (upper-cased) a CRM may hold instead of the code.
COUNTRY_NAMES: dict[str, str] = {
    "UNITED STATES": "US",
    "UNITED STATES OF AMERICA": "US",
    "USA": "US",
    "UNITED KINGDOM": "GB",
    "GREAT BRITAIN": "GB",
    "UK": "GB",
    "ENGLAND": "GB",
    "GERMANY": "DE",
    "DEUTSCHLAND": "DE",
    "FRANCE": "FR",
    "SPAIN": "ES",
    "ESPAÑA": "ES",
    "ITALY": "IT",
    "NETHERLANDS": "NL",
    "BELGIUM": "BE",
    "IRELAND": "IE",
    "SWEDEN": "SE",
    "POLAND": "PL",
    "PORTUGAL": "PT",
    "AUSTRIA": "AT",
    "SWITZERLAND": "CH",
    "DENMARK": "DK",
    "NORWAY": "NO",
    "FINLAND": "FI",
    "AUSTRALIA": "AU",
    "NEW ZEALAND": "NZ",
    "JAPAN": "JP",
    "INDIA": "IN",
    "BRAZIL": "BR",
    "MEXICO": "MX",
    "CANADA": "CA",
}


def country(col: Column) -> Column:
    """``us``/``US`` → ``US``; ``United States`` → ``US``; anything else unrecognized → null."""
    value = F.upper(F.trim(col))
    names = F.create_map(*[F.lit(x) for kv in COUNTRY_NAMES.items() for x in kv])
    return F.coalesce(names[value], F.when(value.rlike("^[A-Z]{2}$"), value))


def language(col: Column) -> Column:
    """``en``, ``EN``, ``en-US``, ``en_GB`` → ``en`` (the primary language subtag)."""
    code = F.lower(F.regexp_extract(F.trim(col), r"^([A-Za-z]{2,3})(?:[-_].*)?$", 1))
    return F.when(code != "", code)
