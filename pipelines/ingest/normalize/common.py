"""Building canonical events (EVENT_LOG) and splitting valid rows from rejects with a reason."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pipelines.gate.quarantine import REASON
from pipelines.normalize import ranges
from pipelines.normalize.identifiers import blank_to_null
from pipelines.schemas.canonical import BASE_AMOUNTS, EVENT_LOG
from pipelines.schemas.events import IDENTIFIER_TYPES, PROPERTIES


@dataclass(frozen=True)
class Rules:
    """Parameters the normalizers need (from conf ``currency`` and ``ingest``)."""

    base_currency: str
    rates: Mapping[str, float]
    minor_unit_digits: Mapping[str, int]
    crm_timezone: str = "UTC"
    default_country: str = "US"
    max_future_s: int = 300
    min_event_date: str = "2000-01-01"


@dataclass(frozen=True)
class Normalized:
    events: DataFrame  # EVENT_LOG columns
    rejects: DataFrame  # bronze columns + REASON
    # Every checked row with its REASON (null: valid), the frame ``events`` and ``rejects``
    # are both derived from: a caller that reads both persists it, so the bronze rows are
    # parsed and checked once, not once per output.
    checked: DataFrame


def properties(**values: Column) -> Column:
    """The envelope ``properties`` struct: given fields set, every other field null."""
    unknown = set(values) - set(PROPERTIES.fieldNames())
    if unknown:
        raise ValueError(f"not envelope properties: {sorted(unknown)}")
    return F.struct(
        *[
            (values[f.name] if f.name in values else F.lit(None)).cast(f.dataType).alias(f.name)
            for f in PROPERTIES.fields
        ]
    )


def identifiers(**values: Column) -> Column:
    return F.struct(
        *[
            (values[t] if t in values else F.lit(None)).cast("string").alias(t)
            for t in IDENTIFIER_TYPES
        ]
    )


def base_amounts(**values: Column) -> Column:
    return F.struct(
        *[
            (values[f.name] if f.name in values else F.lit(None)).cast(f.dataType).alias(f.name)
            for f in BASE_AMOUNTS.fields
        ]
    )


def to_base(amount: Column, currency: Column, rules: Rules) -> Column:
    """Amount in the base currency; null when the currency has no configured rate."""
    rates = F.create_map(*[x for k, v in rules.rates.items() for x in (F.lit(k), F.lit(float(v)))])
    return F.round(amount * rates[F.upper(currency)], 4)


def from_minor_units(minor: Column, currency: Column, rules: Rules) -> Column:
    digits = F.create_map(
        *[x for k, v in rules.minor_unit_digits.items() for x in (F.lit(k), F.lit(int(v)))]
    )
    return minor.cast("double") / F.pow(
        F.lit(10.0), F.coalesce(digits[F.upper(currency)], F.lit(2))
    )


def known_currency(currency: Column, rules: Rules) -> Column:
    return F.upper(currency).isin(list(rules.rates))


def any_identifier(ids: Column) -> Column:
    return F.coalesce(*[ids[t] for t in IDENTIFIER_TYPES]).isNotNull()


def time_checks(event_time: Column, rules: Rules) -> list[tuple[Column, str]]:
    """Rejection rules every source shares for its event time."""
    return [
        (event_time.isNull(), "unparseable or impossible timestamp"),
        (
            event_time < F.lit(rules.min_event_date).cast("timestamp"),
            f"timestamp before {rules.min_event_date}",
        ),
        (
            event_time > F.current_timestamp() + F.make_interval(secs=F.lit(rules.max_future_s)),
            "timestamp in the future",
        ),
    ]


def out_of_range(props: Column) -> tuple[Column, Column]:
    """The stream's range rule (pipelines.normalize.ranges) as a check on canonical
    properties: a CSAT outside 1–5, a sentiment outside −1..1, a quantity below 1 or a
    negative amount or price rejects the row with the stream's reason text."""
    reason = ranges.out_of_range(props)
    return reason.isNotNull(), reason


def impossible_time(raw: Column, parsed: Column, name: str) -> tuple[Column, str]:
    """A time field other than the event time, written but not a real time in the source's
    format (February 30th, another pattern), rejects the row."""
    return (
        blank_to_null(raw).isNotNull() & parsed.isNull(),
        f"unparseable or impossible {name}",
    )


def split(
    df: DataFrame, checks: Sequence[tuple[Column, str | Column]], source: str
) -> tuple[DataFrame, DataFrame, DataFrame]:
    """(valid rows, rejected rows with ``REASON`` = ``<source>: <the first failed check>``,
    every row with its ``REASON`` — the frame both are filtered from).

    A check that evaluates to null counts as failed: a row is kept only when every rule
    positively holds. A check's text is a string or a string column (a reason that names the
    failing field).
    """
    reason = F.lit(None).cast("string")
    for failed, text in reversed(list(checks)):
        why = F.concat(F.lit(f"{source}: "), text if isinstance(text, Column) else F.lit(text))
        reason = F.when(F.coalesce(failed, F.lit(True)), why).otherwise(reason)
    flagged = df.withColumn(REASON, reason)
    return (
        flagged.where(F.col(REASON).isNull()).drop(REASON),
        flagged.where(F.col(REASON).isNotNull()),
        flagged,
    )


def origin(record_key: Column) -> Column:
    """Provenance: ``<file>#<record key>`` (the key as the source system names the record)."""
    return F.concat(F.col("_source_file"), F.lit("#"), F.coalesce(record_key, F.lit("")))


def canonical(df: DataFrame, origin: Column) -> DataFrame:
    """Select EVENT_LOG columns from a frame that already has event_* / identifiers /
    properties / base_amounts columns."""
    out = (
        df.withColumn("origin", origin)
        .withColumn("ingested_at", F.col("_ingested_at"))
        .withColumn("event_date", F.to_date("event_time"))
    )
    return out.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in EVENT_LOG.fields])


def event_id(source: str, *parts: Column) -> Column:
    """Deterministic id: the same source record always gets the same event_id, so exact
    duplicate rows collapse and re-ingesting a file adds nothing."""
    return F.concat(
        F.lit(f"{source}:"),
        F.sha2(
            F.concat_ws("\u241f", *[F.coalesce(p.cast("string"), F.lit("")) for p in parts]), 256
        ).substr(1, 24),
    )
