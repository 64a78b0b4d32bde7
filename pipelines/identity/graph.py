"""The identifier graph: which identifiers are nodes, and which records connect them.

Rules (ARCHITECTURE §3.4):
- Every normalized identifier of a record is a candidate node, keyed by ``type:value`` (the
  same value under two types is two identifiers).
- Denied identifiers (exact ``deny_list`` values or ``deny_patterns`` matches) are not nodes at
  all: they are dropped before anything else looks at them, and never appear in the links.
- A non-customer_id identifier is *shared* once it has been seen, in the same records, with more
  than N distinct customer ids — counting this batch and the ids remembered in its link row.
  A shared identifier is no node either, so it can never merge people; it stays in the links
  with ``shared = true`` and no profile. Shared is sticky: later records never un-share it.
- An identifier already linked to a profile is *contracted* into one node per profile
  (``#<profile_id>``), so a batch only touches the profiles its records reach.
- Identifiers in the same record are connected: a star from the record's smallest node to its
  other nodes (k-1 edges for k identifiers instead of k²).
- A device (``DEVICE_TYPES``) is *personal* while nobody has logged in on it (no customer id in
  its records) and it has carried at most K = ``max_anonymous_ids_per_device`` anonymous ids:
  it links like any identifier (with K = 2, the reset cookies of one anonymous visitor's
  laptop stay one profile — and so do two strangers' cookies on a library PC, which is why the
  default is K = 1). Otherwise it is *weak*: it connects only records that carry no other
  identifier — a family tablet where one member logged in must not pull the others'
  anonymous visits into that member's profile — and joins a profile only when every record
  carrying it resolved to that one profile (``assign_profiles`` uses it only for records with
  nothing else linked). Both counts include the ids remembered in the device's link row, so
  weak is sticky like shared (docs/identity.md, "Devices").
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pipelines.identity.never_link import without_never_linked
from pipelines.identity.params import IdentityParams
from pipelines.schemas.events import IDENTIFIER_TYPES

PROFILE_NODE_PREFIX = "#"  # sorts apart from "type:value" keys, which start with a letter
# Identifiers that can be shared without anyone logging in twice (a family tablet): once a
# customer logged in on one, or it carried more than K anonymous ids, it links a record only
# when the record has no stronger identifier, and joins a profile only unambiguously.
DEVICE_TYPES = ("device_id",)


def observations_from_events(events: DataFrame) -> DataFrame:
    """Observations (record_id, event_time, identifiers) from an EVENT_LOG-shaped DataFrame."""
    return events.select(
        F.col("event_id").alias("record_id"), "event_time", "identifiers"
    )


def denied(value: Column, params: IdentityParams) -> Column:
    """True when ``value`` is on the deny-list or matches a deny pattern."""
    verdict = F.lit(False)
    if params.deny_list:
        verdict = verdict | value.isin(list(params.deny_list))
    if params.deny_patterns:
        combined = "|".join(f"(?:{p})" for p in params.deny_patterns)
        verdict = verdict | value.rlike(combined)
    return F.coalesce(verdict, F.lit(False))


def usable_identifier(value: Column, params: IdentityParams) -> Column:
    """``value`` when it is a non-blank, non-denied identifier, else null."""
    return F.when(value.isNotNull() & (F.trim(value) != "") & ~denied(value, params), value)


def identifier_rows(observations: DataFrame, params: IdentityParams) -> DataFrame:
    """One row per (record, usable identifier): record_id, event_time, id_type, id_value and
    the record's own customer_id and anonymous_id (null if it has none or it is denied), for
    the fan-out count and the device rule. Denied and blank identifiers, and those a
    never-link rule blocks in this record, are gone from here on."""
    observations = without_never_linked(observations, params.never_link)
    pairs = F.array(*[
        F.struct(F.lit(t).alias("id_type"), F.col(f"identifiers.{t}").alias("id_value"))
        for t in IDENTIFIER_TYPES
    ])
    exploded = observations.select(
        F.col("record_id").cast("string").alias("record_id"),
        F.col("event_time").cast("timestamp").alias("event_time"),
        usable_identifier(F.col("identifiers.customer_id"), params).alias("record_customer_id"),
        usable_identifier(F.col("identifiers.anonymous_id"), params).alias("record_anonymous_id"),
        F.explode(pairs).alias("i"),
    )
    return exploded.where(usable_identifier(F.col("i.id_value"), params).isNotNull()).select(
        "record_id", "event_time", "i.id_type", "i.id_value", "record_customer_id",
        "record_anonymous_id",
    )


def identifier_summary(
    rows: DataFrame, existing_links: DataFrame, params: IdentityParams
) -> DataFrame:
    """Per identifier the batch touches: what the batch saw, what the links knew, the
    shared verdict and the graph node.

    Columns: id_type, id_value, seen_first, seen_last, customer_ids and anonymous_ids (merged
    and capped), shared, weak, node (null when shared), e_exists and the existing link's
    columns prefixed ``e_``.
    """
    n = params.max_customer_ids_per_identifier
    k = params.max_anonymous_ids_per_device
    seen = rows.groupBy("id_type", "id_value").agg(
        F.min("event_time").alias("seen_first"),
        F.max("event_time").alias("seen_last"),
        F.collect_set("record_customer_id").alias("batch_customer_ids"),
        F.collect_set("record_anonymous_id").alias("batch_anonymous_ids"),
    )
    existing = existing_links.select(
        "id_type", "id_value", F.lit(True).alias("e_exists"),
        *[F.col(c).alias(f"e_{c}") for c in existing_links.columns
          if c not in {"id_type", "id_value"}],
    )
    joined = seen.join(existing, ["id_type", "id_value"], "left").withColumn(
        "e_exists", F.coalesce("e_exists", F.lit(False))
    )
    is_customer_id = F.col("id_type") == "customer_id"
    is_device = F.col("id_type").isin(list(DEVICE_TYPES))
    merged_ids = _remembered_plus_batch("customer_ids")
    merged_anon = _remembered_plus_batch("anonymous_ids")
    # Capped at N+1 (K+1): enough to decide "more than N", and a row stays small for a kiosk.
    customer_ids = F.when(~is_customer_id, F.slice(merged_ids, 1, n + 1))
    anonymous_ids = F.when(is_device, F.slice(merged_anon, 1, k + 1))
    shared = F.coalesce(F.col("e_shared"), F.lit(False)) | (
        ~is_customer_id & (F.size(merged_ids) > n)
    )
    # A personal device may join up to K cookies; once a login or more than K cookies show
    # it may be shared, it joins nobody to anybody, which is how a family tablet would
    # misattribute a cart.
    weak = is_device & ((F.size(merged_ids) > 0) | (F.size(merged_anon) > k))
    node = (
        F.when(shared, F.lit(None).cast("string"))
        .when(F.col("e_profile_id").isNotNull(),
              F.concat(F.lit(PROFILE_NODE_PREFIX), F.col("e_profile_id")))
        .otherwise(F.concat(F.col("id_type"), F.lit(":"), F.col("id_value")))
    )
    return (
        joined.withColumn("customer_ids", customer_ids)
        .withColumn("anonymous_ids", anonymous_ids)
        .withColumn("shared", shared)
        .withColumn("weak", weak)
        .withColumn("node", node)
        .drop("batch_customer_ids", "batch_anonymous_ids")
    )


def _remembered_plus_batch(name: str) -> Column:
    """The sorted distinct union of the link row's ``e_<name>`` and the batch's ids."""
    return F.array_sort(F.array_distinct(F.concat(
        F.coalesce(F.col(f"e_{name}"), F.array().cast("array<string>")),
        F.col(f"batch_{name}"),
    )))


def record_nodes(rows: DataFrame, summary: DataFrame) -> DataFrame:
    """(record_id, event_time, id_type, id_value, node, weak): each identifier row with its
    node and whether it is a weak (household) identifier."""
    return rows.join(
        summary.select("id_type", "id_value", "node", "weak"), ["id_type", "id_value"]
    ).select("record_id", "event_time", "id_type", "id_value", "node", "weak")


def record_node_sets(nodes: DataFrame) -> DataFrame:
    """(record_id, nodes): the sorted nodes through which each record links — its strong
    nodes, or all of them (weak ones) when it has no strong node."""
    # By identifier, even when contracted into a profile node: a tablet first seen with one
    # person must not later pull another person's anonymous visits into that profile.
    strong = ~F.col("weak")
    return (
        nodes.where(F.col("node").isNotNull())
        # Shuffled by record first: a record's few rows arrive from different identifiers, so
        # a partial aggregation before the shuffle merges nothing and only makes Spark
        # serialize a set per row (docs/performance.md, "A record's nodes collected once").
        .repartition("record_id")
        .groupBy("record_id")
        .agg(F.array_sort(F.collect_set("node")).alias("all_nodes"),
             F.array_sort(F.collect_set(F.when(strong, F.col("node")))).alias("strong_nodes"))
        # A weak identifier connects nothing when the record has a stronger one.
        .select("record_id", F.when(F.size("strong_nodes") > 0, F.col("strong_nodes"))
                .otherwise(F.col("all_nodes")).alias("nodes"))
    )


def vertices_and_edges(per_record: DataFrame) -> tuple[DataFrame, DataFrame]:
    """Vertices (node) and undirected edges (src, dst) of the identifier graph, from
    ``record_node_sets``.

    Each record contributes a star from its smallest node to each other node; a record with a
    single node contributes only the vertex.
    """
    vertices = per_record.select(F.explode("nodes").alias("node")).distinct()
    edges = per_record.where(F.size("nodes") > 1).select(
        F.col("nodes")[0].alias("src"),
        F.explode(F.slice("nodes", 2, F.size("nodes"))).alias("dst"),
    )
    return vertices, edges
