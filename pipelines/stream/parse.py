"""Kafka records → canonical events (EVENT_LOG) and invalid records with a reason.

Pure DataFrame → DataFrame functions over the Kafka source's columns (key, value, topic,
partition, offset, timestamp); nothing here reads or writes.

Rules, checked in this order; the first that fails is the record's reason
(``<code>: <detail>``, codes named like the producer's flaws where they overlap):

1. ``invalid_json`` — the value is not one JSON object (truncated, a Python repr with single
   quotes, an array, empty).
2. ``missing_field`` / ``wrong_type`` — an envelope field (event_id, event_type, event_time,
   source) is absent, or present but not of the schema's type (null after the typed parse
   while the raw JSON has a value).
3. ``unsupported_schema_version`` — schema_version is not 1 (absent counts as missing_field).
4. ``unknown_event_type`` / ``unknown_source`` — outside EVENT_TYPES / SOURCES.
5. ``wrong_type: event_time`` (a number) / ``invalid_event_time`` — not ISO-8601 text with an
   offset or Z.
6. ``future_time`` — event_time later than the record's Kafka timestamp + the tolerance. The
   Kafka timestamp rather than the wall clock, so replaying a batch judges it identically.
7. ``missing_field: identifiers`` — no identifier, or none usable after normalization.
8. ``missing_field`` / ``wrong_type: properties.<p>`` — a property the type requires
   (REQUIRED_PROPERTIES); order items need sku, quantity and unit_price.
9. ``unknown_currency`` — a currency without a configured rate.
10. ``out_of_range`` — outside the ranges of pipelines.normalize.ranges (csat score 1–5,
    sentiment −1..1, quantity ≥ 1, amounts and prices ≥ 0), shared with the batch sources.
11. ``wrong_type`` — any other field whose value does not fit the envelope schema (the rule of
    pipelines.normalize.types, shared with the batch sources); a field the schema does not name
    is not judged, so a new optional field passes.

Valid records get normalized identifiers (trimmed/lower-cased email, E.164 phone,
``platform:handle``), amounts in the base currency, UTC event time and
``origin = "topic/partition/offset"``. Within a batch, one record per event_id is kept: the one
with the smallest (topic, partition, offset), so any replay of the batch keeps the same one.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from pipelines.gate.quarantine import REASON
from pipelines.normalize import identifiers as norm
from pipelines.normalize import ranges, types
from pipelines.schemas.canonical import EVENT_LOG
from pipelines.schemas.events import (
    ENVELOPE,
    EVENT_TYPES,
    IDENTIFIER_TYPES,
    PROPERTIES,
    REQUIRED_PROPERTIES,
    SCHEMA_VERSION,
    SOURCES,
)
from pipelines.stream.settings import ParseParams

PARSE_SCHEMA = StructType([*ENVELOPE.fields, StructField(types.CORRUPT, StringType())])
# Strict JSON: a Python repr ({'a': 1}) is not an envelope, whatever Spark would tolerate.
JSON_OPTIONS = {
    "mode": "PERMISSIVE",
    "allowSingleQuotes": "false",
    "columnNameOfCorruptRecord": types.CORRUPT,
}
ISO_TIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)$"
ENVELOPE_FIELDS = ("event_id", "event_type", "event_time", "source")
CURRENCY_TYPES = tuple(t for t, props in REQUIRED_PROPERTIES.items() if "currency" in props)
INVALID_COLUMNS = ("topic", "partition", "offset", "timestamp", "key", "value")
# Kafka position of a record: the deterministic tie-break of the in-batch dedupe.
_POSITION = ("_topic", "_partition", "_offset")


def _raw(path: str) -> Column:
    """The raw JSON text at ``path`` (null when absent or JSON null)."""
    return F.get_json_object(F.col("_value"), f"$.{path}")


def _absent_or_wrong(typed: Column, path: str) -> Column:
    """For a field that is null after the typed parse: wrong_type if the raw JSON has it."""
    return F.when(_raw(path).isNotNull(), F.lit(f"wrong_type: {path}")).otherwise(
        F.lit(f"missing_field: {path}")
    )


def _social(value: Column) -> Column:
    """Envelope social handles are ``platform:@handle`` in one string."""
    return norm.social_handle(
        F.regexp_extract(value, r"^([^:]+):(.+)$", 1), F.regexp_extract(value, r"^([^:]+):(.+)$", 2)
    )


def normalized_identifiers(ids: Column, country: Column) -> Column:
    """The envelope's identifiers normalized (pipelines.normalize.identifiers)."""
    return F.struct(
        norm.blank_to_null(ids["customer_id"]).alias("customer_id"),
        norm.email(ids["email"]).alias("email"),
        norm.phone(ids["phone"], country).alias("phone"),
        norm.blank_to_null(ids["device_id"]).alias("device_id"),
        norm.blank_to_null(ids["anonymous_id"]).alias("anonymous_id"),
        _social(ids["social_handle"]).alias("social_handle"),
    )


def to_base(amount: Column, currency: Column, params: ParseParams) -> Column:
    """Amount in the base currency: amount × (base units per unit of the currency), as conf
    ``currency.rates`` defines them; null for an unknown currency."""
    rates = F.create_map(*[x for k, v in params.rates.items() for x in (F.lit(k), F.lit(float(v)))])
    return F.round(amount * rates[F.upper(F.trim(currency))], 4)


def _required_property_reason(event_type: Column, props: Column) -> Column:
    first_missing = None
    for etype, names in REQUIRED_PROPERTIES.items():
        missing = F.coalesce(*[F.when(props[n].isNull(), F.lit(n)) for n in names])
        first_missing = (F.when if first_missing is None else first_missing.when)(
            event_type == etype, missing
        )
    return F.when(
        first_missing.isNotNull(),
        F.when(
            F.expr("get_json_object(_value, concat('$.properties.', _missing_property))")
            .isNotNull(),
            F.concat(F.lit("wrong_type: properties."), F.col("_missing_property")),
        ).otherwise(F.concat(F.lit("missing_field: properties."), F.col("_missing_property"))),
    ), first_missing


def _leftover_wrong_type() -> Column:
    """The first field that the raw JSON has but the typed parse could not read."""
    e = F.col("_e")
    paths = [*[(e[f], f) for f in (*ENVELOPE_FIELDS, "schema_version", "identifiers",
                                     "properties")],
             *[(e["properties"][p.name], f"properties.{p.name}") for p in PROPERTIES.fields]]
    found = types.first_wrong_type(paths, _raw)
    return F.concat(
        F.lit("wrong_type: "),
        F.coalesce(found, F.lit("a nested value does not match the envelope schema")),
    )


def classify_records(records: DataFrame, params: ParseParams) -> DataFrame:
    """Every Kafka record with its parsed event columns and ``REASON`` (null when valid).

    Columns: the EVENT_LOG columns (meaningful for valid rows), the raw record
    (topic, partition, offset, timestamp, key, value) and ``REASON``.
    """
    raw = records.select(
        F.col("key").cast("string").alias("_key"),
        F.col("value").cast("string").alias("_value"),
        F.col("topic").alias("_topic"),
        F.col("partition").alias("_partition"),
        F.col("offset").alias("_offset"),
        F.col("timestamp").alias("_kafka_ts"),
    )
    parsed = raw.withColumn("_e", F.from_json("_value", PARSE_SCHEMA, JSON_OPTIONS))
    e = F.col("_e")
    props = e["properties"]
    event_time = F.try_to_timestamp(e["event_time"])
    ids = normalized_identifiers(e["identifiers"], props["attributes"]["country"])
    staged = parsed.select(
        "*",
        event_time.alias("_event_time"),
        ids.alias("_ids"),
        # A corrupt-record flag alone does not tell a syntax error from a type mismatch;
        # a strict parse does, and it only runs on flagged rows.
        (
            F.trim("_value").startswith("{")
            & e.isNotNull()
            & (e[types.CORRUPT].isNull() | F.try_parse_json("_value").isNotNull())
        ).alias("_is_object"),
    )
    req_reason, first_missing = _required_property_reason(e["event_type"], props)
    staged = staged.withColumn("_missing_property", first_missing)
    et_text = e["event_time"]
    future = F.unix_micros(F.col("_event_time")) > F.unix_micros(F.col("_kafka_ts")) + F.lit(
        int(params.future_tolerance_s * 1_000_000)
    )
    raw_ids_present = F.coalesce(*[e["identifiers"][t] for t in IDENTIFIER_TYPES]).isNotNull()
    usable_ids = F.coalesce(*[F.col("_ids")[t] for t in IDENTIFIER_TYPES]).isNotNull()
    needs_currency = e["event_type"].isin(list(CURRENCY_TYPES))
    known_currency = F.upper(F.trim(props["currency"])).isin(list(params.rates))
    items_ok = F.forall(
        props["items"],
        lambda i: i["sku"].isNotNull() & i["quantity"].isNotNull() & i["unit_price"].isNotNull(),
    )
    out_of_range = ranges.out_of_range(props)
    checks: list[tuple[Column, Column]] = [
        (~F.coalesce(F.col("_is_object"), F.lit(False)),
         F.lit("invalid_json: not a JSON object")),
        *[(e[f].isNull(), _absent_or_wrong(e[f], f)) for f in ENVELOPE_FIELDS],
        (e["schema_version"].isNull(), _absent_or_wrong(e["schema_version"], "schema_version")),
        (e["schema_version"] != SCHEMA_VERSION,
         F.concat(F.lit("unsupported_schema_version: "), e["schema_version"].cast("string"))),
        (~e["event_type"].isin(list(EVENT_TYPES)),
         F.concat(F.lit("unknown_event_type: "), e["event_type"])),
        (~e["source"].isin(list(SOURCES)), F.concat(F.lit("unknown_source: "), e["source"])),
        (~et_text.rlike(ISO_TIME) & et_text.rlike(r"^-?[0-9]+(\.[0-9]+)?$"),
         F.lit("wrong_type: event_time (a number; ISO-8601 text with offset required)")),
        (~et_text.rlike(ISO_TIME) | F.col("_event_time").isNull(),
         F.concat(F.lit("invalid_event_time: "), et_text)),
        (future, F.concat(F.lit("future_time: "), et_text)),
        (e["identifiers"].isNull() & _raw("identifiers").isNotNull(),
         F.lit("wrong_type: identifiers")),
        (~raw_ids_present, F.lit("missing_field: identifiers")),
        (~usable_ids, F.lit("missing_field: identifiers (none usable after normalization)")),
        (F.col("_missing_property").isNotNull(), req_reason),
        ((e["event_type"] == "order_placed") & ~items_ok,
         F.lit("wrong_type: properties.items (each needs sku, quantity, unit_price)")),
        (needs_currency & ~known_currency,
         F.concat(F.lit("unknown_currency: "), props["currency"])),
        (out_of_range.isNotNull(), out_of_range),
        (e[types.CORRUPT].isNotNull(), _leftover_wrong_type()),
    ]
    reason = F.lit(None).cast("string")
    for failed, text in reversed(checks):
        # A check that cannot be evaluated (null) fails: a record is valid only when every
        # rule positively holds.
        reason = F.when(F.coalesce(failed, F.lit(True)), text).otherwise(reason)

    amounts = F.struct(
        to_base(props["amount"], props["currency"], params).alias("amount"),
        to_base(props["cart_value"], props["currency"], params).alias("cart_value"),
        to_base(props["unit_price"], props["currency"], params).alias("unit_price"),
    )
    return staged.select(
        e["event_id"].alias("event_id"),
        e["event_type"].alias("event_type"),
        F.col("_event_time").alias("event_time"),
        e["source"].alias("source"),
        F.col("_ids").alias("identifiers"),
        F.when(needs_currency, props.withField("currency", F.upper(F.trim(props["currency"]))))
        .otherwise(props).alias("properties"),
        amounts.alias("base_amounts"),
        F.concat_ws("/", "_topic", F.col("_partition").cast("string"),
                    F.col("_offset").cast("string")).alias("origin"),
        F.lit(None).cast("timestamp").alias("ingested_at"),
        F.to_date("_event_time").alias("event_date"),
        *[F.col(f"_{c}").alias(c) for c in ("topic", "partition", "offset")],
        F.col("_kafka_ts").alias("timestamp"),
        F.col("_key").alias("key"),
        F.col("_value").alias("value"),
        reason.alias(REASON),
    )


def invalid_records(classified: DataFrame) -> DataFrame:
    """Invalid records for the quarantine: the raw record (value as sent, key, topic,
    partition, offset, Kafka timestamp) and ``REASON``."""
    return classified.where(F.col(REASON).isNotNull()).select(*INVALID_COLUMNS, REASON)


def valid_events(classified: DataFrame) -> DataFrame:
    """Valid records as EVENT_LOG rows plus their Kafka position (``_topic``, ``_partition``,
    ``_offset``) for ``dedupe_batch``."""
    return classified.where(F.col(REASON).isNull()).select(
        *EVENT_LOG.fieldNames(),
        *[F.col(c).alias(f"_{c}") for c in ("topic", "partition", "offset")],
    )


def dedupe_batch(valid: DataFrame) -> DataFrame:
    """One row per event_id, the one with the smallest (topic, partition, offset); EVENT_LOG."""
    cols = EVENT_LOG.fieldNames()
    kept = valid.groupBy("event_id").agg(
        F.min_by(F.struct(*cols), F.struct(*_POSITION)).alias("e")
    )
    return conform_events(kept.select("e.*"))


def conform_events(df: DataFrame) -> DataFrame:
    """Exactly the EVENT_LOG columns, in order and type."""
    return df.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in EVENT_LOG.fields])


def parse_kafka_records(records: DataFrame, params: ParseParams) -> tuple[DataFrame, DataFrame]:
    """Kafka records → (valid events in EVENT_LOG shape, deduplicated by event_id within the
    batch; invalid records with ``REASON``, raw value, key, topic, partition, offset).

    ``ingested_at`` is left null: the writer sets it when the events are appended.
    """
    classified = classify_records(records, params)
    return dedupe_batch(valid_events(classified)), invalid_records(classified)
