"""Writing profiles: a gated MERGE that bumps ``version`` only when something changed.

Rules: a new profile is inserted with version 1; an existing one is updated — version + 1,
``updated_at`` = now — only when its ``change_hash`` differs; profiles that identity
resolution merged away are deleted (the merges table says where they went). The profiles
table has Delta change data feed on, so every version of every profile stays queryable.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pipelines.catalog import Catalog
from pipelines.gate import GateReport, Txn, gated_write


def _clauses(columns: list[str], delete_missing: bool):
    values = {c: f"s.`{c}`" for c in columns}

    def clauses(builder):
        builder = builder.whenMatchedUpdate(
            condition="t.change_hash <> s.change_hash",
            set={**values, "version": "t.version + 1"},
        ).whenNotMatchedInsert(values=values)
        if delete_missing:
            builder = builder.whenNotMatchedBySourceDelete()
        return builder

    return clauses


def write_profiles(
    catalog: Catalog,
    profiles: DataFrame,
    now: datetime,
    *,
    delete_missing: bool = False,
    txn: Txn | None = None,
) -> GateReport:
    """MERGE ``profiles`` into the profiles table.

    Args:
        delete_missing: a full rebuild: profiles absent from ``profiles`` are deleted.
        txn: idempotent-write identity; a replayed batch writes nothing.
    """
    rows = profiles.withColumn("version", F.lit(1).cast("bigint")).withColumn(
        "updated_at", F.lit(now).cast("timestamp")
    )
    return gated_write(
        catalog,
        rows,
        "profiles",
        mode="merge",
        merge_on=["profile_id"],
        merge_clauses=_clauses(rows.columns, delete_missing),
        txn=txn,
    )


def delete_profiles(catalog: Catalog, profile_ids: DataFrame) -> None:
    """Delete profiles merged into survivors. Idempotent: deleting twice deletes nothing more."""
    from delta.tables import DeltaTable

    spark = profile_ids.sparkSession
    path = catalog.path("profiles")
    if not DeltaTable.isDeltaTable(spark, path):
        return
    ids = profile_ids.select("profile_id").distinct()
    DeltaTable.forPath(spark, path).alias("t").merge(
        ids.alias("s"), "t.profile_id = s.profile_id"
    ).whenMatchedDelete().execute()
