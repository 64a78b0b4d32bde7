"""The quarantine table: every row kept out of a table, with why, so nothing is lost.

Columns: table_name, reason, failed_expectations, payload (the row as JSON), run_id,
quarantined_at. The gate writes rows failing row-level expectations and whole rejected
batches; ingestion writes rows it cannot normalize (unparseable time, unknown currency…).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pipelines.catalog import Catalog
from pipelines.gate.delta_io import Txn, ensure_table, txn_confs, write_delta

REASON = "_quarantine_reason"
FAILED = "_quarantine_failed"


def to_quarantine_rows(df: DataFrame, table_name: str, run_id: str) -> DataFrame:
    """Shape rows carrying ``REASON`` (string) and optionally ``FAILED`` (array) for the sink."""
    payload_cols = [c for c in df.columns if c not in {REASON, FAILED}]
    failed = F.col(FAILED) if FAILED in df.columns else F.array(F.col(REASON))
    return df.select(
        F.lit(table_name).alias("table_name"),
        F.col(REASON).cast("string").alias("reason"),
        failed.cast("array<string>").alias("failed_expectations"),
        F.to_json(F.struct(*[F.col(f"`{c}`") for c in payload_cols])).alias("payload"),
        F.lit(run_id).alias("run_id"),
        F.current_timestamp().alias("quarantined_at"),
    )


def quarantine(
    catalog: Catalog, df: DataFrame, table_name: str, run_id: str, txn: Txn | None = None
) -> None:
    """Append ``df`` (with a ``REASON`` column) to the quarantine table."""
    rows = to_quarantine_rows(df, table_name, run_id)
    spec = catalog.table("quarantine")
    ensure_table(rows, spec)
    with txn_confs(df.sparkSession, txn):
        write_delta(rows, spec, "append")
