"""Identifier normalization (ARCHITECTURE §3.4), as Spark column expressions.

- email: trimmed and lower-cased (Unicode case mapping, so ``ZOË@X.DE`` is ``zoë@x.de``);
  kept only if it matches ``EMAIL_PATTERN`` (pipelines/schemas/contract.py): internationalized
  addresses are accepted.
- phone: E.164 (``+`` and 8–15 digits). ``00`` and ``+`` prefixes are international; a
  national number takes its calling code from the record's country (ISO-2), and a leading
  trunk ``0`` is dropped. Without a usable country the number cannot be placed and is null.
- social handle: ``platform:handle`` lower-cased, without ``@``.
- ids (customer, device, anonymous): trimmed; empty strings are null.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from pipelines.schemas.contract import EMAIL_PATTERN

# ISO-3166 alpha-2 -> calling code, for the countries customers come from.
CALLING_CODES: dict[str, str] = {
    "US": "1",
    "CA": "1",
    "GB": "44",
    "UK": "44",
    "DE": "49",
    "FR": "33",
    "ES": "34",
    "IT": "39",
    "NL": "31",
    "BE": "32",
    "IE": "353",
    "SE": "46",
    "PL": "48",
    "PT": "351",
    "AT": "43",
    "CH": "41",
    "DK": "45",
    "NO": "47",
    "FI": "358",
    "AU": "61",
    "NZ": "64",
    "JP": "81",
    "IN": "91",
    "BR": "55",
    "MX": "52",
}


def blank_to_null(col: Column) -> Column:
    trimmed = F.trim(col)
    return F.when(trimmed == "", F.lit(None)).otherwise(trimmed)


def email(col: Column) -> Column:
    value = F.lower(F.trim(col))
    return F.when(value.rlike(EMAIL_PATTERN), value)


def phone(col: Column, country: Column | None = None) -> Column:
    raw = F.trim(col)
    digits = F.regexp_replace(raw, r"[^0-9]", "")
    code_map = F.create_map(*[F.lit(x) for kv in CALLING_CODES.items() for x in kv])
    code = code_map[F.upper(F.trim(country))] if country is not None else F.lit(None)
    e164 = (
        F.when(raw.startswith("+"), F.concat(F.lit("+"), digits))
        .when(digits.startswith("00"), F.concat(F.lit("+"), F.substring(digits, 3, 32)))
        .when(code.isNotNull(), F.concat(F.lit("+"), code, F.regexp_replace(digits, r"^0", "")))
    )
    return F.when(e164.rlike(r"^\+[1-9][0-9]{7,14}$"), e164)


def social_handle(platform: Column, handle: Column) -> Column:
    h = F.lower(F.regexp_replace(F.trim(handle), r"^@+", ""))
    p = F.lower(F.trim(platform))
    return F.when((h != "") & p.isNotNull() & (p != ""), F.concat(p, F.lit(":"), h))
