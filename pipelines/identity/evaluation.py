"""Scoring identity resolution against a ground truth, fairly.

Raw recall counts every pair of records of one person, including pairs no resolver could
join: a web session that never logged in, a ticket sent from a work address that appears
nowhere else. ``linkable_truth`` splits each person into the groups of records the data
actually connects — records sharing an identifier that the truth marks neither shared nor
deny-listed — so recall against it measures the resolver, not the data. Precision is always
judged against the persons themselves: merging two people is wrong whatever the data says.
``normalization_match`` checks the identifiers themselves: the share of normalized values in
the event log that the truth knows, so a normalizer bug cannot hide in linkable_truth.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pipelines.identity.components import connected_components
from pipelines.identity.quality import pairwise_precision_recall
from pipelines.schemas.events import IDENTIFIER_TYPES


def _identifier_rows(records: DataFrame) -> DataFrame:
    pairs = F.array(
        *[
            F.struct(F.lit(t).alias("id_type"), F.col(f"identifiers.{t}").alias("id_value"))
            for t in IDENTIFIER_TYPES
        ]
    )
    return (
        records.select("record_id", "person_id", F.explode(pairs).alias("i"))
        .select("record_id", "person_id", "i.id_type", "i.id_value")
        .where("id_value IS NOT NULL")
    )


def linkable_truth(records: DataFrame, identifier_truth: DataFrame) -> DataFrame:
    """``(record_id, person_id)`` where person_id is narrowed to the linkable group.

    Args:
        records: record_id, person_id (truth), identifiers (normalized, as ingested).
        identifier_truth: id_type, id_value, shared, deny_listed (the generator's truth).
    """
    unusable = identifier_truth.where("shared OR deny_listed").select("id_type", "id_value")
    rows = _identifier_rows(records).join(unusable, ["id_type", "id_value"], "left_anti")
    edges = rows.select(
        F.concat(F.lit("r:"), "record_id").alias("src"),
        F.concat_ws("|", F.lit("i"), "person_id", "id_type", "id_value").alias("dst"),
    )
    labels = connected_components(edges).labels
    record_nodes = records.select(
        "record_id", "person_id", F.concat(F.lit("r:"), "record_id").alias("node")
    )
    return record_nodes.join(labels, "node", "left").select(
        "record_id", F.coalesce("component", "node").alias("person_id")
    )


def normalization_match(records: DataFrame, identifier_truth: DataFrame) -> float:
    """Share of (id_type, id_value) occurrences in ``records`` that the truth knows."""
    rows = _identifier_rows(records)
    known = identifier_truth.select("id_type", "id_value").distinct().withColumn("k", F.lit(1))
    row = (
        rows.join(known, ["id_type", "id_value"], "left")
        .agg(F.count(F.lit(1)).alias("n"), F.count("k").alias("hit"))
        .first()
    )
    return row.hit / row.n if row.n else 1.0


def evaluate(predicted: DataFrame, records: DataFrame, identifier_truth: DataFrame) -> dict:
    """Precision vs persons, recall vs persons and vs linkable groups, normalization match.

    Args:
        predicted: record_id, profile_id (null: no profile — a singleton).
        records: record_id, person_id, identifiers.
    """
    truth = records.select("record_id", "person_id")
    raw = pairwise_precision_recall(predicted, truth)
    linkable = pairwise_precision_recall(predicted, linkable_truth(records, identifier_truth))
    return {
        "precision": raw["precision"],
        "recall": raw["recall"],
        "recall_linkable": linkable["recall"],
        "normalization_match": normalization_match(records, identifier_truth),
        "records": raw["records"],
    }


def _truth_source() -> Column:
    """Ingest labels support events `support`; the generator's truth calls that source
    `tickets`."""
    return F.when(F.col("source") == "support", "tickets").otherwise(F.col("source"))


def score_events(
    events: DataFrame, links: DataFrame, record_truth: DataFrame, identifier_truth: DataFrame
) -> dict:
    """Score the resolution of ingested ``events`` against the generator's truth.

    Events are matched to truth records by source and record key (``origin`` is
    ``<file>#<record key>``); events no profile claims count as singletons.
    """
    from pipelines.profiles.build import events_with_profiles

    assigned, unassigned = events_with_profiles(events, links)
    record_id = F.concat_ws("/", _truth_source(), F.split("origin", "#")[1])
    predicted = assigned.select(record_id.alias("record_id"), "profile_id").unionByName(
        unassigned.select(
            record_id.alias("record_id"), F.lit(None).cast("string").alias("profile_id")
        )
    )
    truth = record_truth.where("person_id IS NOT NULL").select(
        F.concat_ws("/", "source", "record_key").alias("record_id"), "person_id"
    )
    records = events.select(record_id.alias("record_id"), "identifiers").join(truth, "record_id")
    return evaluate(predicted, records.cache(), identifier_truth)
