"""Records → profiles, through the identity links."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pipelines.identity.graph import DEVICE_TYPES, identifier_rows
from pipelines.identity.params import IdentityParams


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
    usable = links.where(
        F.col("profile_id").isNotNull() & ~F.coalesce(F.col("shared"), F.lit(False))
    ).select("id_type", "id_value", "profile_id")
    on_device = F.col("id_type").isin(list(DEVICE_TYPES))
    return rows.join(usable, ["id_type", "id_value"]).groupBy("record_id").agg(
        F.coalesce(F.min(F.when(~on_device, F.col("profile_id"))), F.min("profile_id"))
        .alias("profile_id")
    )
