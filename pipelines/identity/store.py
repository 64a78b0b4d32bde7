"""Writing a resolution to the identity tables, through the gate."""

from __future__ import annotations

from dataclasses import replace

from pyspark.sql import DataFrame, SparkSession

from pipelines.catalog import Catalog
from pipelines.config import Conf
from pipelines.gate import GateReport, Txn, gated_write
from pipelines.gate.delta_io import add_missing_columns, ensure_table, read_if_exists
from pipelines.identity.never_link import rules_from_rows
from pipelines.identity.params import IdentityParams
from pipelines.identity.resolve import IdentityResult
from pipelines.identity.schemas import LINK_KEY, LINKS, LINKS_ADDED_LATER

LINKS_TABLE = "identity_links"
MERGES_TABLE = "identity_merges"
PROBABLE_TABLE = "identity_probable_links"
ACTIVITY_TABLE = "probable_activity"
UNMERGES_TABLE = "identity_unmerges"
NEVER_LINK_TABLE = "identity_never_link"
NEVER_LINK_KEY = ("id_type", "id_value", "with_id_type", "with_id_value")
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


def write_probable_activity(catalog: Catalog, activity: DataFrame) -> GateReport:
    """Replace ``probable_activity`` with ``activity``, recomputed with the links it comes from
    (written even when empty, so the export finds the table)."""
    return gated_write(catalog, activity, ACTIVITY_TABLE, mode="overwrite")


def read_never_link(spark: SparkSession, catalog: Catalog) -> tuple[tuple[str, str, str, str], ...]:
    """The rules of ``identity_never_link`` (none when the table does not exist)."""
    if NEVER_LINK_TABLE not in catalog.names():
        return ()
    table = read_if_exists(spark, catalog.path(NEVER_LINK_TABLE))
    if table is None:
        return ()
    return rules_from_rows(table.select(*NEVER_LINK_KEY).collect())


def identity_params(spark: SparkSession, catalog: Catalog, conf: Conf) -> IdentityParams:
    """``IdentityParams`` from conf, with the never-link rules of the lakehouse: what every
    batch run and every micro-batch resolves with."""
    return replace(IdentityParams.from_conf(conf), never_link=read_never_link(spark, catalog))


def add_never_link(catalog: Catalog, rules: DataFrame) -> GateReport | None:
    """Upsert never-link rules (a rule already there keeps its first merge_id and time)."""
    if rules.isEmpty():
        return None

    def insert_new(builder):
        return builder.whenNotMatchedInsertAll()

    return gated_write(catalog, rules, NEVER_LINK_TABLE, mode="merge",
                       merge_on=list(NEVER_LINK_KEY), merge_clauses=insert_new)
