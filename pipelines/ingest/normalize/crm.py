"""CRM customers export (CSV) → ``profile_updated`` events.

Each row is the customer's record as of ``Last Modified`` (a local time in conf
``ingest.crm_timezone``, format ``MM/dd/yyyy HH:mm``); a later row for the same CustomerID is a
later version of the record. Tier is lower-cased, country becomes ISO-2 (codes in any case or
English names), language ISO 639-1 (``en-US`` → ``en``);
``Created`` becomes the ``signup_at`` attribute (tenure).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pipelines.ingest.normalize.common import (
    Normalized,
    Rules,
    any_identifier,
    base_amounts,
    canonical,
    event_id,
    identifiers,
    impossible_time,
    origin,
    properties,
    split,
    time_checks,
)
from pipelines.normalize import attributes as attrs
from pipelines.normalize import identifiers as ids

RAW_COLUMNS = (
    "customerid",
    "first_name",
    "last_name",
    "e_mail",
    "phone",
    "country",
    "preferred_language",
    "tier",
    "created",
    "last_modified",
)


def _local_time(col: str, rules: Rules):
    parsed = F.try_to_timestamp(F.trim(F.col(col)), F.lit("MM/dd/yyyy HH:mm"))
    return F.to_utc_timestamp(parsed, rules.crm_timezone)


# The record key as the source system names the record (ground truth uses the same key).
def record_key() -> Column:
    return F.concat_ws("|", F.trim(F.col("customerid")), F.trim(F.col("last_modified")))


def normalize_crm(bronze: DataFrame, rules: Rules) -> Normalized:
    """Bronze CRM rows → canonical events, and rejects with a reason."""
    country = attrs.country(F.col("country"))
    attributes = F.map_filter(
        F.create_map(
            F.lit("first_name"),
            ids.blank_to_null(F.col("first_name")),
            F.lit("last_name"),
            ids.blank_to_null(F.col("last_name")),
            F.lit("country"),
            country,
            F.lit("language"),
            attrs.language(F.col("preferred_language")),
            F.lit("account_tier"),
            F.lower(ids.blank_to_null(F.col("tier"))),
            F.lit("signup_at"),
            F.date_format(_local_time("created", rules), "yyyy-MM-dd'T'HH:mm:ss'Z'"),
        ),
        lambda _k, v: v.isNotNull(),
    )
    shaped = bronze.select(
        "*",
        event_id("crm", *[F.col(c) for c in RAW_COLUMNS]).alias("event_id"),
        F.lit("profile_updated").alias("event_type"),
        _local_time("last_modified", rules).alias("event_time"),
        F.lit("crm").alias("source"),
        identifiers(
            customer_id=ids.blank_to_null(F.col("customerid")),
            email=ids.email(F.col("e_mail")),
            phone=ids.phone(F.col("phone"), F.coalesce(country, F.lit(rules.default_country))),
        ).alias("identifiers"),
        properties(attributes=attributes).alias("properties"),
        base_amounts().alias("base_amounts"),
    )
    valid, rejects, checked = split(
        shaped,
        [
            (ids.blank_to_null(F.col("customerid")).isNull(), "missing CustomerID"),
            *time_checks(F.col("event_time"), rules),
            impossible_time(F.col("created"), _local_time("created", rules), "Created"),
            # An address the CRM holds but that is not one would otherwise vanish from the
            # profile without a trace; the row waits in quarantine until the CRM fixes it.
            (
                ids.blank_to_null(F.col("e_mail")).isNotNull()
                & F.col("identifiers.email").isNull(),
                "invalid e-mail",
            ),
            (~any_identifier(F.col("identifiers")), "no identifier"),
        ],
        "crm",
    )
    return Normalized(
        canonical(
            valid,
            origin(F.concat_ws("|", F.trim(F.col("customerid")), F.trim(F.col("last_modified")))),
        ),
        rejects.select(*bronze.columns, rejects["_quarantine_reason"]),
        checked,
    )
