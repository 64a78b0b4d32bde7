"""Identity of a small batch on the driver: Spark reads the links it reaches and writes the
result; ``resolve_local`` decides in between (docs/identity.md, "Small batches").

Same inputs and outputs as the Spark path (``resolve`` + ``assign_profiles``): DataFrames of
the ``LINKS`` and ``MERGES`` schemas, built from rows on the driver, so everything downstream
(the gate, the MERGE, the profile fold) is unchanged. Timestamps cross as microseconds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StructField, StructType, TimestampType

from pipelines.identity import resolve_local
from pipelines.identity.params import IdentityParams
from pipelines.identity.resolve import IdentityResult, links_reached
from pipelines.identity.schemas import LINKS, MERGES
from pipelines.schemas.events import IDENTIFIER_TYPES

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(moment: datetime) -> int:
    """``moment`` as microseconds since the epoch, what ``F.lit(moment)`` stores: a naive
    datetime is local time, as PySpark takes it."""
    return (moment.astimezone(UTC) - _EPOCH) // timedelta(microseconds=1)


def _as_micros(schema: StructType) -> list:
    return [F.unix_micros(F.col(f.name)).alias(f.name) if isinstance(f.dataType, TimestampType)
            else F.col(f.name) for f in schema.fields]


def _long_schema(schema: StructType) -> StructType:
    return StructType([StructField(f.name, LongType()) if isinstance(f.dataType, TimestampType)
                       else f for f in schema.fields])


def rows_of(df: DataFrame, schema: StructType) -> list[dict]:
    """``df`` (with ``schema``'s columns) collected as dicts, timestamps in microseconds."""
    return [r.asDict() for r in df.select(*_as_micros(schema)).collect()]


def frame_of(spark: SparkSession, rows: list[dict], schema: StructType) -> DataFrame:
    """Dicts with ``schema``'s columns (timestamps in microseconds) as a DataFrame of it."""
    names = schema.fieldNames()
    data = spark.createDataFrame([tuple(r.get(n) for n in names) for r in rows],
                                 _long_schema(schema))
    return data.select(*[F.timestamp_micros(F.col(f.name)).alias(f.name)
                         if isinstance(f.dataType, TimestampType) else F.col(f.name)
                         for f in schema.fields])


def collect_observations(observations: DataFrame, limit: int
                         ) -> list[resolve_local.Observation]:
    """At most ``limit`` (record_id, event_time, identifiers) rows of ``observations``."""
    rows = observations.select(
        F.col("record_id").cast("string").alias("record_id"),
        F.unix_micros(F.col("event_time").cast("timestamp")).alias("event_time"),
        *[F.col(f"identifiers.{t}").alias(t) for t in IDENTIFIER_TYPES],
    ).limit(limit).collect()
    return [(r["record_id"], r["event_time"], {t: r[t] for t in IDENTIFIER_TYPES})
            for r in rows]


def reached_links(stored: DataFrame | None,
                  rows: list[resolve_local.IdentifierRow]) -> list[dict]:
    """The link rows ``resolve`` needs: those of the batch's usable identifiers (``rows``)
    and every row of the profiles they reach (a merge repoints all of them). One Spark job."""
    if stored is None:
        return []
    keys = sorted({r.key for r in rows})
    if not keys:
        return []
    pairs = stored.sparkSession.createDataFrame(keys, "id_type string, id_value string")
    return rows_of(links_reached(stored, F.broadcast(pairs)), LINKS)


def resolve_small(
    observations: DataFrame, stored_links: DataFrame | None, params: IdentityParams,
    *, now: datetime,
) -> tuple[DataFrame, IdentityResult, DataFrame] | None:
    """(the existing links reached, the resolution, the (record_id, profile_id) assignment) of
    ``observations``, resolved on the driver; what ``resolve`` + ``assign_profiles`` give.
    None when there are more than ``params.local_max_records`` records (Spark's turn)."""
    if params.local_max_records == 0:
        return None
    spark = observations.sparkSession
    records = collect_observations(observations, params.local_max_records + 1)
    if len(records) > params.local_max_records:
        return None
    rows = resolve_local.identifier_rows(records, params)
    existing = reached_links(stored_links, rows)
    result = resolve_local.resolve(records, existing, params, now=micros(now), rows=rows)
    assigned = resolve_local.assign_profiles(records, result.links, params, rows=rows)
    return (
        frame_of(spark, existing, LINKS),
        IdentityResult(links=frame_of(spark, result.links, LINKS),
                       merges=frame_of(spark, result.merges, MERGES)),
        spark.createDataFrame(sorted(assigned.items()), "record_id string, profile_id string"),
    )
