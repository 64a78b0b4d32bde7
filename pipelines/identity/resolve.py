"""Stable profile ids and merges: from identifier components to the identity tables.

Rules, per connected component of the identifier graph (see graph.py for which identifiers are
nodes, components.py for the algorithm):
- no existing profile in it → a new profile, id = prefix + the first 16 hex digits of
  sha2-256 of the component's smallest ``type:value`` identifier, so a replay mints the same id;
  created ``now``;
- one existing profile → it keeps its id and created time (a grown component);
- several → the oldest (earliest ``profile_created_at``, ties by profile_id) survives; every
  other is merged into it: all its links repoint to the survivor (``origin_profile_id`` keeps
  where they came from) and one merge row is written per merged profile.

The merge row's linking record is the earliest (event_time, record_id) record of this batch
that carries an identifier of the merged profile *and* a node outside it; its linking
identifier is that record's smallest (id_type, id_value) outside the merged profile — the
identifier through which the merged profile was reached.

``resolve`` returns only the link rows this batch touches (every usable identifier of the
observations, and every row repointed by a merge): it is an upsert on (id_type, id_value),
and enough for ``assign_profiles`` on the same observations. ``apply_links`` folds it into a
full table. A row's ``updated_at`` moves only when its content changes, so replaying the same
observations yields identical links and no merges.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pipelines.identity.components import connected_components, cut_lineage
from pipelines.identity.graph import (
    PROFILE_NODE_PREFIX,
    identifier_rows,
    identifier_summary,
    record_node_sets,
    record_nodes,
    vertices_and_edges,
)
from pipelines.identity.params import CHECKPOINT_MODES, IdentityParams
from pipelines.identity.schemas import LINK_KEY, LINKS, MERGES, conform, links_as_of_now

# Columns whose change makes a link row "updated".
LINK_CONTENT = ("profile_id", "profile_created_at", "first_seen", "last_seen", "shared",
            "customer_ids", "anonymous_ids", "origin_profile_id")


@dataclass(frozen=True)
class IdentityResult:
    """``links``: upsert rows for ``identity_links`` (schema ``LINKS``); ``merges``: rows to
    append to ``identity_merges`` (schema ``MERGES``). Both are materialized (checkpointed),
    so writing them (MERGE reads its source twice) never recomputes the resolution."""

    links: DataFrame
    merges: DataFrame


def new_profile_id(smallest_key: Column, prefix: str) -> Column:
    """prefix + first 16 hex digits of sha2-256 of the component's smallest ``type:value``."""
    return F.concat(F.lit(prefix), F.substring(F.sha2(smallest_key, 256), 1, 16))


def resolve(
    observations: DataFrame,
    existing_links: DataFrame,
    params: IdentityParams,
    *,
    now: datetime,
    checkpoint: str | None = None,
) -> IdentityResult:
    """Resolve the identities of ``observations`` against ``existing_links``.

    Args:
        observations: record_id, event_time, identifiers (struct of the six normalized
            identifier fields); see ``observations_from_events``.
        existing_links: the current ``identity_links`` table (schema ``LINKS``; may be empty).
            Only its rows for the batch's identifiers and for profiles merged away are used;
            the rest is neither returned nor rewritten.
        params: guards and loop settings (``IdentityParams.from_conf``).
        now: processing time (timezone-aware): ``updated_at`` of changed rows,
            ``profile_created_at`` of new profiles, ``merged_at`` of merges.
        checkpoint: ``local`` or ``reliable``; default ``params.checkpoint``.
    Returns:
        ``IdentityResult`` with the link upserts and the merges.
    Raises:
        ComponentsNotConverged: the components loop hit ``params.max_iterations``.
    """
    mode = checkpoint or params.checkpoint
    if mode not in CHECKPOINT_MODES:
        raise ValueError(f"checkpoint is '{mode}'; use one of {CHECKPOINT_MODES}")
    now_ts = F.lit(now).cast("timestamp")
    existing = links_as_of_now(existing_links)
    persisted: list[DataFrame] = []

    def keep(df: DataFrame) -> DataFrame:
        persisted.append(df.persist(StorageLevel.MEMORY_AND_DISK))
        return df

    rows = keep(identifier_rows(observations, params))
    summary = keep(identifier_summary(rows, existing, params))
    nodes = keep(record_nodes(rows, summary))
    # Kept: the edges are built from it now, the vertices after the components loop.
    vertices, edges = vertices_and_edges(keep(record_node_sets(nodes)))
    components = connected_components(
        edges, checkpoint=mode, checkpoint_every=params.checkpoint_every,
        max_iterations=params.max_iterations,
    )
    # A node in no edge (a record with one node) is a component of its own.
    node_component = vertices.join(components.labels, "node", "left").select(
        "node", F.coalesce("component", "node").alias("component")
    )

    profile_nodes = summary.where(F.col("node").startswith(PROFILE_NODE_PREFIX)).groupBy(
        "node"
    ).agg(
        F.first("e_profile_id").alias("profile_id"),
        F.min("e_profile_created_at").alias("created_at"),
    )
    per_node = keep(node_component.join(profile_nodes, "node", "left"))
    per_component = keep(per_node.groupBy("component").agg(
        F.min(F.when(F.col("profile_id").isNotNull(),
                     F.struct("created_at", "profile_id"))).alias("survivor"),
        F.min(F.when(F.col("profile_id").isNull(), F.col("node"))).alias("smallest_key"),
    ).select(
        "component",
        F.coalesce(F.col("survivor.profile_id"),
                   new_profile_id(F.col("smallest_key"), params.profile_id_prefix)
                   ).alias("c_profile_id"),
        F.coalesce(F.col("survivor.created_at"), now_ts).alias("c_created_at"),
    ))

    merged = keep(per_node.where(F.col("profile_id").isNotNull()).join(
        per_component, "component"
    ).where(F.col("profile_id") != F.col("c_profile_id")).select(
        "node",
        F.col("profile_id").alias("merged_profile_id"),
        F.col("created_at").alias("merged_profile_created_at"),
        F.col("c_profile_id").alias("survivor_profile_id"),
        F.col("c_created_at").alias("survivor_created_at"),
    ))

    links = _touched_links(summary, per_node, per_component, now_ts,
                           _weak_profiles(nodes, per_node, per_component))
    if merged.isEmpty():
        # The common case (no batch joins two profiles): skip the merge plans entirely.
        merges = observations.sparkSession.createDataFrame([], MERGES)
    else:
        merges = cut_lineage(conform(_merge_rows(nodes, merged, now_ts), MERGES), mode)
        links = links.unionByName(_repointed_links(existing, merged, summary, now_ts))
    result = IdentityResult(links=cut_lineage(conform(links, LINKS), mode), merges=merges)
    for df in persisted:
        df.unpersist()
    return result


def _merge_rows(nodes: DataFrame, merged: DataFrame, now_ts: Column) -> DataFrame:
    """One row per merged profile: its survivor and the record + identifier that linked it."""
    linking_records = nodes.join(merged, "node").select(
        "record_id", F.col("node").alias("merged_node"), "merged_profile_id",
        "merged_profile_created_at", "survivor_profile_id",
    ).distinct()
    candidates = linking_records.join(nodes, "record_id").where(
        F.col("node").isNotNull() & (F.col("node") != F.col("merged_node"))
    )
    first = candidates.groupBy(
        "merged_profile_id", "merged_profile_created_at", "survivor_profile_id"
    ).agg(F.min(F.struct("event_time", "record_id", "id_type", "id_value")).alias("link"))
    return first.select(
        "survivor_profile_id", "merged_profile_id", "link.id_type", "link.id_value",
        "link.record_id", now_ts.alias("merged_at"), "merged_profile_created_at",
    )


def _weak_profiles(nodes: DataFrame, per_node: DataFrame, per_component: DataFrame
                   ) -> DataFrame:
    """A weak identifier that linked nothing joins a profile only unambiguously: when every
    record carrying it resolved to that one profile. (node, c_profile_id, c_created_at)."""
    resolved = per_node.select("node", "component").join(per_component, "component")
    record_profile = nodes.join(resolved, "node").select(
        "record_id", "c_profile_id", "c_created_at").distinct()
    weak = nodes.where(F.col("weak") & F.col("node").isNotNull()) \
        .join(resolved.select("node"), "node", "left_anti").select("record_id", "node")
    return weak.join(record_profile, "record_id").groupBy("node").agg(
        F.countDistinct("c_profile_id").alias("n"),
        F.min(F.struct("c_profile_id", "c_created_at")).alias("p"),
    ).where("n = 1").select("node", "p.c_profile_id", "p.c_created_at")


def _touched_links(
    summary: DataFrame, per_node: DataFrame, per_component: DataFrame, now_ts: Column,
    weak_profiles: DataFrame,
) -> DataFrame:
    """The new state of every identifier the observations carry."""
    profile = per_node.select("node", "component").join(per_component, "component").select(
        "node", "c_profile_id", "c_created_at").unionByName(weak_profiles)
    s = summary.join(profile, "node", "left")
    shared = F.col("shared")
    new = {
        "profile_id": F.when(~shared, F.col("c_profile_id")),
        "profile_created_at": F.when(~shared, F.col("c_created_at")),
        "first_seen": F.least("e_first_seen", "seen_first"),
        "last_seen": F.greatest("e_last_seen", "seen_last"),
        "shared": shared,
        "customer_ids": F.col("customer_ids"),
        "anonymous_ids": F.col("anonymous_ids"),
        "origin_profile_id": F.coalesce(F.col("e_origin_profile_id"),
                                        F.when(~shared, F.col("c_profile_id"))),
    }
    unchanged = F.lit(True)
    for name in LINK_CONTENT:
        unchanged = unchanged & new[name].eqNullSafe(F.col(f"e_{name}"))
    return s.select(
        *LINK_KEY,
        *[new[c].alias(c) for c in ("profile_id", "profile_created_at", "first_seen",
                                    "last_seen")],
        F.when(F.col("e_exists") & unchanged, F.col("e_updated_at"))
        .otherwise(now_ts).alias("updated_at"),
        *[new[c].alias(c) for c in ("shared", "customer_ids", "anonymous_ids",
                                    "origin_profile_id")],
    )


def _repointed_links(
    existing: DataFrame, merged: DataFrame, summary: DataFrame, now_ts: Column
) -> DataFrame:
    """Rows of merged profiles the observations did not carry: repointed to the survivor."""
    moved = existing.join(
        merged.select(F.col("merged_profile_id").alias("profile_id"),
                      "survivor_profile_id", "survivor_created_at"),
        "profile_id",
    ).join(summary.select(*LINK_KEY), list(LINK_KEY), "left_anti")
    return moved.select(
        *LINK_KEY,
        F.col("survivor_profile_id").alias("profile_id"),
        F.col("survivor_created_at").alias("profile_created_at"),
        "first_seen", "last_seen", now_ts.alias("updated_at"), "shared", "customer_ids",
        "anonymous_ids", "origin_profile_id",
    )


def links_reached(links: DataFrame, pairs: DataFrame) -> DataFrame:
    """The rows of ``links`` that ``resolve`` needs for a batch whose identifiers are ``pairs``
    (id_type, id_value): those identifiers' rows, plus every row of the profiles they reach (a
    merge repoints all of a merged profile's identifiers, not just the one seen)."""
    links = links_as_of_now(links)
    touching = links.join(pairs, ["id_type", "id_value"], "left_semi")
    reached = touching.where(F.col("profile_id").isNotNull()).select("profile_id").distinct()
    of_reached = links.join(reached, "profile_id", "left_semi").select(*LINKS.fieldNames())
    return touching.unionByName(of_reached).dropDuplicates(["id_type", "id_value"])


def apply_links(existing_links: DataFrame, upserts: DataFrame) -> DataFrame:
    """The full links table after upserting ``upserts`` (what the Delta MERGE does)."""
    existing = links_as_of_now(existing_links)
    kept = existing.join(upserts.select(*LINK_KEY), list(LINK_KEY), "left_anti")
    return kept.unionByName(conform(upserts, LINKS))
