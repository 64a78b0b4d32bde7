"""Writing a resolution to the identity tables, through the gate."""

from __future__ import annotations

from pyspark.sql import DataFrame

from pipelines.catalog import Catalog
from pipelines.gate import GateReport, Txn, gated_write
from pipelines.gate.delta_io import add_missing_columns, ensure_table
from pipelines.identity.resolve import IdentityResult
from pipelines.identity.schemas import LINK_KEY, LINKS, LINKS_ADDED_LATER

LINKS_TABLE = "identity_links"
MERGES_TABLE = "identity_merges"
PROBABLE_TABLE = "identity_probable_links"
_ADDED_LATER = {f.name: f.dataType.simpleString() for f in LINKS.fields
                if f.name in LINKS_ADDED_LATER}


def write_identity(
    catalog: Catalog, result: IdentityResult, txn: Txn | None = None
) -> dict[str, GateReport]:
    """Append the merges, then upsert the links (MERGE on id_type, id_value).

    Merges go first: if the job dies between the two writes, a rerun still sees the old links,
    finds the same merges and — with the same ``txn`` — skips the merges already committed and
    writes the links. The other order would lose the merge record, because rerunning against
    repointed links finds nothing left to merge. Without a ``txn`` a rerun appends its merges
    again. Empty frames are not written (no empty commits), but ``identity_merges`` is
    created empty on the first call, so audit queries over it work on a lakehouse that has
    seen no merge yet. A links table written before ``LINKS_ADDED_LATER`` existed gets those
    columns first.

    Returns:
        The gate report of each table written, by table name.
    """
    reports: dict[str, GateReport] = {}
    if not result.merges.isEmpty():
        reports[MERGES_TABLE] = gated_write(catalog, result.merges, MERGES_TABLE, txn=txn)
    else:
        # Outside the txn (ensure_table's rule), so a later merge append is not skipped.
        ensure_table(result.merges, catalog.table(MERGES_TABLE))
    if not result.links.isEmpty():
        add_missing_columns(result.links.sparkSession, catalog.path(LINKS_TABLE), _ADDED_LATER)
        reports[LINKS_TABLE] = gated_write(
            catalog, result.links, LINKS_TABLE, mode="merge", merge_on=list(LINK_KEY), txn=txn
        )
    return reports



def write_probable_links(catalog: Catalog, probable: DataFrame) -> GateReport:
    """Replace ``identity_probable_links`` with ``probable`` (the batch recomputes the tier
    from the whole event log, so links a contradiction withdrew disappear), through the gate.
    Written even when empty, so readers find the table."""
    return gated_write(catalog, probable, PROBABLE_TABLE, mode="overwrite")
