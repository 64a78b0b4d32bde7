"""Profiles (+ nightly segments) → the chatbot export: one row per profile, only what a
chatbot may see.

Business rules:
- Always present: ``profile_id``, ``lookup_ids`` (identifier type → values, emails and phones
  only as keyed hashes), ``profile_version``, ``as_of``, ``updated_at``, ``exported_at`` and
  ``personalization_allowed``. Everything else is published only when it is on the allow-list
  (``export.allow_list``).
- Personalization consent off: the row keeps only the always-present fields (so the customer
  can still be found and the bot knows it must not personalize); every other field is null.
- Next-best-action hints come from rules in conf (a Spark SQL condition over the candidate
  columns below, before the allow-list), ordered by priority (1 = most urgent).
- Segments (rule segments, cluster, churn band, RFM label) come from the latest segments
  snapshot of each profile when a segments table is given, else they are null.
- The probable tier's fields (``PROBABLE_COLUMNS``) come from the profile's
  ``probable_activity`` row when that table is given, else they are null; no strong field is
  ever computed from them.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import DataType

from pipelines.config import ConfigError
from pipelines.serving.export_fields import KEY_FIELDS as KEY_FIELDS  # re-exported for callers
from pipelines.serving.export_fields import OPTIONAL_FIELDS, PROBABLE_COLUMNS, SEGMENT_COLUMNS
from pipelines.serving.hashing import hmac_column
from pipelines.serving.params import ExportParams
from pipelines.serving.records import BASE_STATE, COVERED_OFFSETS

# The whole row rendered once as the API's JSON document (last column): the cache stores it and
# the Delta fallback reads just it, so both paths serve the same bytes Spark rendered.
DOCUMENT = "document"
TIMESTAMP_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSSXXX"  # Spark renders UTC (spark.sql.session.timeZone)

LAST_TICKET = (
    "struct<ticket_id:string,status:string,category:string,priority:string,channel:string,"
    "at:timestamp>"
)
CART = "array<struct<sku:string,category:string,quantity:int,unit_price:double,added_at:timestamp>>"
ACTION = "struct<name:string,hint:string,priority:int>"


def build_export(
    profiles: DataFrame,
    segments: DataFrame | None = None,
    params: ExportParams | None = None,
    exported_at: datetime | None = None,
    probable: DataFrame | None = None,
) -> DataFrame:
    """One export row per profile.

    Args:
        profiles: the profiles table (profile columns + ``identifiers``, ``version``,
            ``updated_at``, ``as_of``).
        segments: optional segments snapshots (profile_id, as_of, rule_segments, cluster_name,
            churn_score, churn_band, rfm_label); the latest snapshot per profile is used.
        params: allow-list, hashing pepper, action rules (``ExportParams.from_conf``).
        exported_at: the export run's time (default: now).
        probable: optional ``probable_activity`` rows (profile_id + ``PROBABLE_COLUMNS``).
    Returns:
        ``KEY_FIELDS``, the allow-listed fields in allow-list order, ``document``, then the
        hot lane's ``base_state`` and ``covered_offsets`` (``_base_columns``).
    """
    params = params or ExportParams()
    unknown = [f for f in params.allow_list if f not in OPTIONAL_FIELDS]
    if unknown:
        raise ConfigError(
            f"export.allow_list names unknown fields {unknown}; known: {sorted(OPTIONAL_FIELDS)}"
        )
    rows = _with_probable(_with_segments(profiles, segments), probable)
    rows = rows.withColumns(_candidates(rows, params))
    rows = rows.withColumn("next_best_actions", _actions(params))
    allowed = F.coalesce(F.col("consent_personalization"), F.lit(True))
    stamp = F.current_timestamp() if exported_at is None else F.lit(exported_at)
    published = rows.select(
        F.col("profile_id"),
        F.col("version").cast("bigint").alias("profile_version"),
        F.col("as_of").cast("timestamp").alias("as_of"),
        F.col("updated_at").cast("timestamp").alias("updated_at"),
        stamp.cast("timestamp").alias("exported_at"),
        allowed.alias("personalization_allowed"),
        _lookup_ids(params).alias("lookup_ids"),
        *[F.when(allowed, F.col(f)).alias(f) for f in params.allow_list],
        *_base_columns(rows),
    )
    served = [c for c in published.columns if c not in (BASE_STATE, COVERED_OFFSETS)]
    return published.select(*served, document(served).alias(DOCUMENT), BASE_STATE,
                             COVERED_OFFSETS)


def _base_columns(rows: DataFrame) -> list[Column]:
    """``base_state`` and ``covered_offsets`` per profile: what the hot lane merges its overlay
    into (pipelines/serving/served.py), never part of the document. ``base_state`` is
    ``{"state": <state_local wire form>, "segments": <segment columns + as_of>, "probable":
    <PROBABLE_COLUMNS>}``; null where the rows carry no fold state (small frames in tests)."""
    from pipelines.profiles.state import STATE_COLUMNS, state_json

    segments = F.to_json(
        F.struct(*[F.col(c) for c in SEGMENT_COLUMNS], F.col("segments_as_of").alias("as_of")),
        {"timestampFormat": TIMESTAMP_FORMAT},
    )
    probable = F.to_json(
        F.struct(*[F.col(c) for c in PROBABLE_COLUMNS]), {"timestampFormat": TIMESTAMP_FORMAT}
    )
    has_state = all(c in rows.columns for c in STATE_COLUMNS)
    base = (
        F.concat(F.lit('{"state":'), state_json(), F.lit(',"segments":'), segments,
                 F.lit(',"probable":'), probable, F.lit("}"))
        if has_state
        else F.lit(None).cast("string")
    )
    return [base.alias(BASE_STATE), _opt(rows, COVERED_OFFSETS, "string").alias(COVERED_OFFSETS)]


def document(columns: list[str]) -> Column:
    """The row as the JSON document the API serves: every field present (null when empty),
    timestamps ISO-8601 UTC with milliseconds (``2026-08-01T10:00:00.000Z``)."""
    return F.to_json(
        F.struct(*[F.col(f"`{c}`") for c in columns]),
        {"timestampFormat": TIMESTAMP_FORMAT, "ignoreNullFields": "false"},
    )


def _opt(df: DataFrame, name: str, dtype: str | DataType) -> Column:
    """A profile column that older tables (or the tests' small frames) may not have."""
    return F.col(name) if name in df.columns else F.lit(None).cast(dtype)


def _with_segments(profiles: DataFrame, segments: DataFrame | None) -> DataFrame:
    if segments is None:
        return profiles.withColumns(
            {
                c: F.lit(None).cast(t)
                for c, t in {**SEGMENT_COLUMNS, "segments_as_of": "timestamp"}.items()
            }
        )
    newest = Window.partitionBy("profile_id").orderBy(F.col("as_of").desc())
    latest = (
        segments.withColumn("_n", F.row_number().over(newest))
        .where("_n = 1")
        .select(
            "profile_id",
            *[
                (F.col(c) if c in segments.columns else F.lit(None)).cast(t).alias(c)
                for c, t in SEGMENT_COLUMNS.items()
            ],
            F.col("as_of").cast("timestamp").alias("segments_as_of"),
        )
    )
    clashing = [c for c in latest.columns if c != "profile_id" and c in profiles.columns]
    return profiles.drop(*clashing).join(latest, "profile_id", "left")


def _with_probable(rows: DataFrame, probable: DataFrame | None) -> DataFrame:
    typed = {c: (F.col(c) if probable is not None and c in probable.columns else F.lit(None))
             .cast(t) for c, t in PROBABLE_COLUMNS.items()}
    if probable is None:
        return rows.withColumns(typed)
    activity = probable.select("profile_id", *[v.alias(c) for c, v in typed.items()])
    return rows.drop(*PROBABLE_COLUMNS).join(activity, "profile_id", "left")


def _candidates(df: DataFrame, params: ExportParams) -> dict[str, Column]:
    """Every optional field (rules may use them, the allow-list picks from them)."""
    cart = _opt(df, "cart", CART)
    newest_line = F.get(  # null, not an error, for an empty cart
        F.array_sort(
            cart,
            lambda a, b: (
                F.when(a["added_at"] > b["added_at"], -1)
                .when(a["added_at"] < b["added_at"], 1)
                .otherwise(0)
            ),
        ),
        0,
    )
    complements = params.complementary_categories
    complement = (
        F.create_map(*[F.lit(x) for kv in sorted(complements.items()) for x in kv])[
            newest_line["category"]
        ]
        if complements
        else F.lit(None).cast("string")
    )
    intent = _opt(df, "intent", "string")
    last_ticket = _opt(df, "last_ticket", "struct<ticket_id:string>")
    ticket_fields = ("ticket_id", "status", "category", "priority", "channel", "at")
    known = set(df.schema["last_ticket"].dataType.names) if "last_ticket" in df.columns else set()
    ticket = F.when(
        last_ticket.isNotNull(),
        F.struct(
            *[(last_ticket[f] if f in known else F.lit(None)).alias(f) for f in ticket_fields]
        ),
    ).cast(LAST_TICKET)
    name = F.trim(
        F.concat_ws(" ", _opt(df, "first_name", "string"), _opt(df, "last_name", "string"))
    )
    return {
        "display_name": F.when(name != "", name),
        "first_name": _opt(df, "first_name", "string"),
        "language": F.lower(_opt(df, "language", "string")),
        "country": F.upper(_opt(df, "country", "string")),
        "account_tier": F.lower(_opt(df, "account_tier", "string")),
        "net_spend": _opt(df, "net_spend", "double"),
        "orders_30d": _opt(df, "orders_30d", "bigint"),
        "last_order_id": _opt(df, "last_order_id", "string"),
        "last_order_at": _opt(df, "last_order_at", "timestamp"),
        "cart": F.transform(
            cart,
            lambda line: F.struct(
                line["sku"].alias("sku"),
                line["category"].alias("category"),
                line["quantity"].alias("quantity"),
                line["unit_price"].alias("unit_price"),
                line["added_at"].alias("added_at"),
            ),
        ).cast(CART),
        "cart_value": _opt(df, "cart_value", "double"),
        "intent": intent,
        "intent_at": F.when(
            intent.isin("cart", "checkout"), _opt(df, "cart_updated_at", "timestamp")
        )
        .when(intent == "browsing", _opt(df, "last_seen", "timestamp"))
        .cast("timestamp"),
        "complementary_category": F.when(intent.isin("cart", "checkout"), complement),
        "open_tickets": F.coalesce(_opt(df, "open_tickets", "int"), F.lit(0)).cast("int"),
        "open_ticket_ids": _opt(df, "open_ticket_ids", "array<string>"),
        "last_ticket": ticket,
        "last_contact_at": _opt(df, "last_contact_at", "timestamp"),
        "avg_csat": _opt(df, "avg_csat", "double"),
        "recent_categories": _opt(df, "recent_categories", "array<string>"),
        **{c: F.col(c) for c in PROBABLE_COLUMNS},
    }


def _actions(params: ExportParams) -> Column:
    if not params.actions:
        return F.array().cast(f"array<{ACTION}>")
    hints = [
        F.when(
            F.coalesce(F.expr(rule.condition), F.lit(False)),
            F.struct(
                F.lit(rule.name).alias("name"),
                (F.expr(rule.hint_sql) if rule.hint_sql else F.lit(rule.hint)).alias("hint"),
                F.lit(rule.priority).alias("priority"),
            ),
        ).cast(ACTION)
        for rule in params.actions
    ]
    present = F.filter(F.array(*hints), lambda h: h.isNotNull())
    return F.array_sort(
        present,
        lambda a, b: (
            F.when(a["priority"] < b["priority"], -1)
            .when(a["priority"] > b["priority"], 1)
            .otherwise(
                F.when(a["name"] < b["name"], -1).when(a["name"] > b["name"], 1).otherwise(0)
            )
        ),
    )


def _lookup_ids(params: ExportParams) -> Column:
    wanted = list(params.lookup_id_types)
    hashed = list(params.hashed_id_types)
    published = F.map_filter(
        F.coalesce(F.col("identifiers"), F.create_map().cast("map<string,array<string>>")),
        lambda k, _v: k.isin(wanted),
    )
    return F.transform_values(
        published,
        lambda k, v: F.when(
            k.isin(hashed),
            F.array_sort(F.transform(v, lambda x: hmac_column(x, params.hash_pepper))),
        ).otherwise(v),
    )


def identifier_index(export: DataFrame, merges: DataFrame | None = None) -> DataFrame:
    """The lookup table of the API's Delta fallback: ``(id_type, id_key, profile_id,
    profile_version)``, one row per published identifier (``id_key`` is the hash for hashed
    types), plus ``merged_profile`` rows that redirect a merged-away profile_id to its survivor.

    An identifier published on several profiles (a stale profiles table) goes to the highest
    version, then the greatest profile_id, so the index stays one row per key.
    """
    ids = export.select(
        "profile_id", "profile_version", F.explode("lookup_ids").alias("id_type", "values")
    ).select("id_type", F.explode("values").alias("id_key"), "profile_id", "profile_version")
    if merges is not None:
        redirects = merges.select(
            F.lit("merged_profile").alias("id_type"),
            F.col("merged_profile_id").alias("id_key"),
            F.col("survivor_profile_id").alias("profile_id"),
            F.lit(None).cast("bigint").alias("profile_version"),
        )
        live = export.select(F.col("profile_id").alias("id_key"))
        ids = ids.unionByName(redirects.join(live, "id_key", "left_anti"))
    best = Window.partitionBy("id_type", "id_key").orderBy(
        F.col("profile_version").desc_nulls_last(), F.col("profile_id").desc()
    )
    return (
        ids.withColumn("_n", F.row_number().over(best))
        .where("_n = 1")
        .drop("_n")
        .select("id_type", "id_key", "profile_id", "profile_version")
    )
