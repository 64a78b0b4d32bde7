"""Writing a resolution to the identity tables, through the gate."""

from __future__ import annotations

from pyspark.sql import SparkSession

from pipelines.catalog import Catalog
from pipelines.gate import GateReport, Txn, gated_write
from pipelines.gate.delta_io import read_if_exists
from pipelines.identity.resolve import IdentityResult
from pipelines.identity.schemas import LINK_KEY, LINKS, LINKS_ADDED_LATER

LINKS_TABLE = "identity_links"
MERGES_TABLE = "identity_merges"


def write_identity(
    catalog: Catalog, result: IdentityResult, txn: Txn | None = None
) -> dict[str, GateReport]:
    """Append the merges, then upsert the links (MERGE on id_type, id_value).

    Merges go first: if the job dies between the two writes, a rerun still sees the old links,
    finds the same merges and — with the same ``txn`` — skips the merges already committed and
    writes the links. The other order would lose the merge record, because rerunning against
    repointed links finds nothing left to merge. Without a ``txn`` a rerun appends its merges
    again. Empty frames are not written (no empty commits).

    Returns:
        The gate report of each table written, by table name.
    """
    reports: dict[str, GateReport] = {}
    if not result.merges.isEmpty():
        reports[MERGES_TABLE] = gated_write(catalog, result.merges, MERGES_TABLE, txn=txn)
    if not result.links.isEmpty():
        _add_later_columns(result.links.sparkSession, catalog.path(LINKS_TABLE))
        reports[LINKS_TABLE] = gated_write(
            catalog, result.links, LINKS_TABLE, mode="merge", merge_on=list(LINK_KEY), txn=txn
        )
    return reports


def _add_later_columns(spark: SparkSession, path: str) -> None:
    """Give a links table written before ``LINKS_ADDED_LATER`` existed those columns (null), so
    the MERGE can store them: schema auto-merge is off on purpose (conf spark.settings)."""
    stored = read_if_exists(spark, path)
    if stored is None:
        return
    missing = [f for f in LINKS.fields
               if f.name in LINKS_ADDED_LATER and f.name not in stored.columns]
    if missing:
        columns = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in missing)
        spark.sql(f"ALTER TABLE delta.`{path}` ADD COLUMNS ({columns})")
