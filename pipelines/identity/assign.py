"""Records → profiles, through the identity links."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pipelines.identity.graph import DEVICE_TYPES, identifier_rows, usable_identifier
from pipelines.identity.never_link import without_never_linked
from pipelines.identity.params import IdentityParams
from pipelines.schemas.events import IDENTIFIER_TYPES


def usable_links(links: DataFrame) -> DataFrame:
    """The links that place records: those holding a profile and not shared (a shared
    identifier stays in the links with no profile and must never pull records together)."""
    return links.where(
        F.col("profile_id").isNotNull() & ~F.coalesce(F.col("shared"), F.lit(False))
    )


def assign_profiles(
    observations: DataFrame, links: DataFrame, params: IdentityParams | None = None
) -> DataFrame:
    """(record_id, profile_id) for every distinct record of ``observations``: its
    ``linked_profiles`` row, ``profile_id = null`` when no usable identifier of it is linked."""
    records = observations.select(F.col("record_id").cast("string").alias("record_id")).distinct()
    return records.join(linked_profiles(observations, links, params), "record_id", "left")


def linked_profiles(
    observations: DataFrame, links: DataFrame, params: IdentityParams | None = None
) -> DataFrame:
    """(record_id, profile_id), one row per record of ``observations`` that a usable
    identifier links to a profile; records with none are absent (no pass over every record
    to list them: a left join on record_id gives them ``profile_id = null``).

    A record belongs to the profile its usable non-device identifiers link to (after
    ``resolve`` they all link to the same one; should stale links disagree, the smallest id
    wins); its device decides only when no other identifier of the record is linked. A weak
    device's link row may hold another person's profile (docs/identity.md, "Devices"). Denied
    identifiers are never in the links; shared ones link no profile. A record whose only
    identifiers are denied or shared gets ``profile_id = null``: the caller quarantines it
    with ``pipelines.profiles.build.NO_PROFILE`` instead of guessing.

    Args:
        links: the links table, or the ``links`` of a ``resolve`` on these observations.
        params: when given, deny-listed identifiers are ignored even if an older link holds
            them (the deny-list may have grown since).
    """
    guards = params or IdentityParams()
    rows = identifier_rows(observations, guards).select("record_id", "id_type", "id_value")
    usable = usable_links(links).select("id_type", "id_value", "profile_id")
    on_device = F.col("id_type").isin(list(DEVICE_TYPES))
    return rows.join(usable, ["id_type", "id_value"]).groupBy("record_id").agg(
        F.coalesce(F.min(F.when(~on_device, F.col("profile_id"))), F.min("profile_id"))
        .alias("profile_id")
    )


def with_linked_profile(
    records: DataFrame, links: DataFrame, params: IdentityParams | None = None
) -> DataFrame:
    """``records`` (any frame with an ``identifiers`` struct, e.g. the event log) with one
    more column, ``profile_id``: what ``linked_profiles`` gives the record, null when it gives
    nothing.

    Same rule, evaluated per identifier type instead of per (record, identifier) row: a
    record carries at most one value of each type, so each type is one left join of the
    records with that type's usable links, and the record's profile is the smallest
    non-device one, else its device's. The records are never exploded, aggregated or
    shuffled: when the links are small enough to broadcast (the planner decides), this is one
    scan of the records with hash lookups.

    ``links`` must hold one row per (id_type, id_value), as the links table does (its writes
    MERGE on that key and the gate checks it) and as ``resolve`` returns them: a repeated key
    would repeat the records that carry it.
    """
    guards = params or IdentityParams()
    kept = "_record_identifiers"
    # A never-link rule hides an identifier from the lookup only: the output keeps it.
    out = without_never_linked(records.withColumn(kept, F.col("identifiers")), guards.never_link)
    usable = usable_links(links)
    found: dict[str, str] = {}
    for i, t in enumerate(IDENTIFIER_TYPES):
        value, found[t] = f"_link_value_{i}", f"_link_profile_{i}"
        per_type = usable.where(F.col("id_type") == t).select(
            F.col("id_value").alias(value), F.col("profile_id").alias(found[t]))
        key = usable_identifier(F.col(f"identifiers.{t}"), guards)
        out = out.join(per_type, key == F.col(value), "left")
    strong = _smallest([F.col(found[t]) for t in IDENTIFIER_TYPES if t not in DEVICE_TYPES])
    device = _smallest([F.col(found[t]) for t in IDENTIFIER_TYPES if t in DEVICE_TYPES])
    return out.select(
        *[F.col(kept).alias(c) if c == "identifiers" else F.col(c) for c in records.columns],
        F.coalesce(strong, device).alias("profile_id"),
    )


def _smallest(columns: list[Column]) -> Column:
    """The smallest non-null value of ``columns`` (null when all are null)."""
    return columns[0] if len(columns) == 1 else F.least(*columns)
