"""Scoring identity resolution against a ground truth, fairly.

Raw recall counts every pair of records of one person, including pairs no resolver could
join: a web session that never logged in, a ticket sent from a work address that appears
nowhere else. ``linkable_groups`` splits each person into the groups of records the data
actually connects — records sharing an identifier that the truth marks neither shared nor
deny-listed — so recall against it measures the resolver, not the data. Precision is always
judged against the persons themselves: merging two people is wrong whatever the data says.
``normalization_match`` checks the identifiers themselves: the share of normalized values in
the event log that the truth knows, so a normalizer bug cannot hide in the linkable groups.

Two tiers (docs/identity.md, "Probable links"): strong links are judged against the groups
*strong* rules may join — linkable groups without the devices someone logged in on or that
carried more than K cookies, which are weak by rule (``recall_strongly_linkable``);
``probable_scores`` adds the served probable links (each record of an attached anonymous id
moved into the customer's profile) and reports the precision of the pairs they add and the
recall with them, against the linkable groups and the persons.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pipelines.identity.quality import pairwise_precision_recall
from pipelines.identity.union_find import UnionFind
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


def weak_devices(records: DataFrame, max_anonymous_ids_per_device: int) -> DataFrame:
    """(id_type, id_value) of every device weak by the device rule — seen in a record with a
    customer id, or with more than K distinct anonymous ids — so strong links never join
    through it."""
    device = F.col("identifiers.device_id")
    return records.where(device.isNotNull()).groupBy(device.alias("id_value")).agg(
        F.max(F.col("identifiers.customer_id").isNotNull().cast("int")).alias("login"),
        F.countDistinct("identifiers.anonymous_id").alias("cookies"),
    ).where((F.col("login") == 1) | (F.col("cookies") > max_anonymous_ids_per_device)).select(
        F.lit("device_id").alias("id_type"), "id_value")


def linkable_groups(records: DataFrame, identifier_truth: DataFrame,
                    weak: DataFrame | None = None) -> DataFrame:
    """``(record_id, linkable, strongly_linkable)``: the record's linkable group — records of
    one person joined by a chain of shared usable identifiers — and its strongly linkable
    group, the same without the ``weak`` identifiers (e.g. ``weak_devices``). A usable
    identifier is one the truth marks neither shared nor deny-listed.

    Groups never span two persons (an identifier joins only records of the same truth person),
    so each person's records are grouped on their own (``_group_person_rows``) after one
    shuffle by person — both groupings in the same pass — rather than by connected components
    over the whole graph, whose rounds cost as much as resolution itself at scale. A group id
    names the person and the group's smallest record; a record no usable identifier joins to
    anything is a group of its own.

    Args:
        records: record_id, person_id (truth), identifiers (normalized, as ingested).
        identifier_truth: id_type, id_value, shared, deny_listed (the generator's truth).
        weak: (id_type, id_value), distinct, that join nothing in the strongly linkable groups.
    """
    unusable = identifier_truth.where("shared OR deny_listed").select("id_type", "id_value")
    rows = _identifier_rows(records).join(unusable, ["id_type", "id_value"], "left_anti")
    if weak is None:
        rows = rows.withColumn("weak", F.lit(False))
    else:
        flagged = weak.select("id_type", "id_value", F.lit(True).alias("weak"))
        rows = rows.join(flagged, ["id_type", "id_value"], "left").withColumn(
            "weak", F.coalesce("weak", F.lit(False)))
    keyed = rows.select(
        "person_id", "record_id",
        F.concat_ws("\u0000", "id_type", "id_value").alias("identifier"), "weak",
    )
    groups = keyed.repartition("person_id").sortWithinPartitions("person_id").mapInPandas(
        _group_person_rows, "record_id string, linkable string, strongly_linkable string"
    )
    alone = F.concat(F.lit("\u0000alone:"), "record_id")
    return records.select("record_id").join(groups, "record_id", "left").select(
        "record_id",
        F.coalesce("linkable", alone).alias("linkable"),
        F.coalesce("strongly_linkable", alone).alias("strongly_linkable"),
    )


def group_records(person_id: str, rows: Iterable[tuple[str, str]]) -> dict[str, str]:
    """``record_id → group id`` for one person's ``(record_id, identifier)`` rows: records
    sharing an identifier are in one group, transitively. The group id is the person id and
    the group's smallest record id."""
    groups = UnionFind()
    first_with: dict[str, str] = {}
    for record_id, identifier in rows:
        groups.union(record_id, first_with.setdefault(identifier, record_id))
    return {r: f"{person_id}\u0000{groups.find(r)}" for r in list(groups.parent)}


def _group_person_rows(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """Both groupings of ``linkable_groups`` over rows sorted by person; a person's rows may
    span batches. A record whose every identifier is weak has no strongly linkable group here
    (None: a group of its own)."""

    def grouped(person_id: str, rows: list[tuple[str, str, bool]]) -> pd.DataFrame:
        linkable = group_records(person_id, [(r, i) for r, i, _ in rows])
        strong = group_records(person_id, [(r, i) for r, i, weak in rows if not weak])
        return pd.DataFrame({"record_id": list(linkable), "linkable": list(linkable.values()),
                             "strongly_linkable": [strong.get(r) for r in linkable]},
                            dtype=object)

    person: str | None = None
    pending: list[tuple[str, str, bool]] = []
    for pdf in batches:
        out = []
        columns = (pdf["person_id"].tolist(), pdf["record_id"].tolist(),
                   pdf["identifier"].tolist(), pdf["weak"].tolist())
        for p, r, i, w in zip(*columns, strict=True):
            if p != person:
                if pending:
                    out.append(grouped(person, pending))
                person, pending = p, []
            pending.append((r, i, w))
        if out:
            yield pd.concat(out, ignore_index=True)
    if pending:
        yield grouped(person, pending)


def _as_truth(groups: DataFrame, column: str) -> DataFrame:
    """One grouping of ``linkable_groups`` as the truth ``pairwise_precision_recall`` reads."""
    return groups.select("record_id", F.col(column).alias("person_id"))


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


def evaluate(predicted: DataFrame, records: DataFrame, identifier_truth: DataFrame,
             groups: DataFrame) -> dict:
    """Precision vs persons, recall vs persons, vs linkable and vs strongly linkable groups,
    normalization match.

    Args:
        predicted: record_id, profile_id (null: no profile — a singleton).
        records: record_id, person_id, identifiers.
        groups: ``linkable_groups`` of ``records``, the device rule's weak devices as ``weak``.
    """
    truth = records.select("record_id", "person_id")
    raw = pairwise_precision_recall(predicted, truth)
    linkable = pairwise_precision_recall(predicted, _as_truth(groups, "linkable"))
    strongly = pairwise_precision_recall(predicted, _as_truth(groups, "strongly_linkable"))
    return {
        "precision": raw["precision"],
        # Rounding hides a miss at scale (one wrong pair in 10^6 is 0.99999 or "1.0").
        "wrong_pairs": raw["predicted_pairs"] - raw["true_positive_pairs"],
        "recall": raw["recall"],
        "recall_linkable": linkable["recall"],
        "recall_strongly_linkable": strongly["recall"],
        "normalization_match": normalization_match(records, identifier_truth),
        "records": raw["records"],
    }


def with_probable(predicted: DataFrame, records: DataFrame, probable: DataFrame) -> DataFrame:
    """``predicted`` with every record carrying an attached anonymous id in that link's
    profile (``probable``: anonymous_id, profile_id — the links to use, e.g. served ones)."""
    attached = records.select(
        "record_id", F.col("identifiers.anonymous_id").alias("anonymous_id")
    ).join(probable.select("anonymous_id", F.col("profile_id").alias("probable_profile_id")),
           "anonymous_id")
    return predicted.join(attached.select("record_id", "probable_profile_id"), "record_id",
                          "left").select(
        "record_id", F.coalesce("probable_profile_id", "profile_id").alias("profile_id"))


def _pair_sum(df: DataFrame, keys: list[str]) -> int:
    counts = df.groupBy(*keys).count()
    return int(counts.agg(F.sum(F.expr("`count` * (`count` - 1) div 2"))).first()[0] or 0)


def added_pair_precision(strong: DataFrame, extended: DataFrame, truth: DataFrame) -> dict:
    """Precision of the pairs ``extended`` puts together that ``strong`` does not.

    Pairs together in both = Σ C(n, 2) over (extended, strong) cells, so added pairs =
    pairs(extended) − that, and correct added pairs = Σ over (extended, person) − Σ over
    (extended, strong, person): group-bys, never the pairs themselves. Records without a
    profile are singletons.
    """
    def key(column: str) -> Column:
        return F.coalesce(F.col(column), F.concat(F.lit("\u0000unassigned:"), "record_id"))

    joined = truth.select("record_id", "person_id").join(
        strong.select("record_id", F.col("profile_id").alias("s")), "record_id", "left"
    ).join(extended.select("record_id", F.col("profile_id").alias("e")), "record_id", "left") \
        .select("person_id", key("s").alias("s"), key("e").alias("e")).persist()
    try:
        added = _pair_sum(joined, ["e"]) - _pair_sum(joined, ["e", "s"])
        correct = _pair_sum(joined, ["e", "person_id"]) - _pair_sum(joined, ["e", "s", "person_id"])
    finally:
        joined.unpersist()
    return {"precision": correct / added if added else 1.0, "added_pairs": added,
            "correct_added_pairs": correct}


def probable_scores(predicted: DataFrame, records: DataFrame, identifier_truth: DataFrame,
                    probable: DataFrame, groups: DataFrame | None = None) -> dict:
    """The probable tier against the truth, pairwise and link by link.

    Args:
        predicted: record_id, profile_id from the strong links.
        records: record_id, person_id, identifiers.
        identifier_truth: the generator's identifier truth.
        probable: the links to judge (anonymous_id, profile_id, customer_id, device_id), e.g.
            those at or above the serving threshold.
        groups: ``linkable_groups`` of ``records`` when already computed.
    Returns:
        probable_precision (of the record pairs the links add), recall_with_probable (against
        the linkable groups), recall_with_probable_raw (against the persons), and per link:
        probable_links, probable_link_precision (the anonymous id's person is the customer's),
        wrong_on_shared_devices (wrong links through a device the truth marks shared: family
        tablets, library PCs).
    """
    truth = records.select("record_id", "person_id")
    extended = with_probable(predicted, records, probable).cache()
    added = added_pair_precision(predicted, extended, truth)
    if groups is None:
        groups = linkable_groups(records, identifier_truth)
    linkable = pairwise_precision_recall(extended, _as_truth(groups, "linkable"))
    raw = pairwise_precision_recall(extended, truth)
    owners = identifier_truth.where(~F.col("shared")).select("id_type", "id_value", "person_id")
    anon_owner = owners.where(F.col("id_type") == "anonymous_id").select(
        F.col("id_value").alias("anonymous_id"), F.col("person_id").alias("anon_person"))
    customer_owner = owners.where(F.col("id_type") == "customer_id").select(
        F.col("id_value").alias("customer_id"), F.col("person_id").alias("customer_person"))
    shared_devices = identifier_truth.where(
        (F.col("id_type") == "device_id") & F.col("shared")
    ).select(F.col("id_value").alias("device_id"), F.lit(True).alias("shared_device")).distinct()
    judged = probable.join(anon_owner, "anonymous_id", "left").join(
        customer_owner, "customer_id", "left").join(shared_devices, "device_id", "left")
    right = F.col("anon_person").eqNullSafe(F.col("customer_person")) & F.col(
        "anon_person").isNotNull()
    row = judged.agg(
        F.count(F.lit(1)).alias("n"),
        F.sum(right.cast("int")).alias("right"),
        F.sum((~right & F.coalesce("shared_device", F.lit(False))).cast("int")).alias("shared"),
    ).first()
    extended.unpersist()
    n = int(row.n)
    return {
        "probable_precision": added["precision"],
        "probable_added_pairs": added["added_pairs"],
        "recall_with_probable": linkable["recall"],
        "recall_with_probable_raw": raw["recall"],
        "probable_links": n,
        "probable_link_precision": (int(row.right or 0) / n) if n else 1.0,
        "wrong_on_shared_devices": int(row.shared or 0),
    }


def _truth_source() -> Column:
    """Ingest labels support events `support`; the generator's truth calls that source
    `tickets`."""
    return F.when(F.col("source") == "support", "tickets").otherwise(F.col("source"))


def score_events(
    events: DataFrame, links: DataFrame, record_truth: DataFrame, identifier_truth: DataFrame,
    max_anonymous_ids_per_device: int, probable: DataFrame | None = None,
) -> dict:
    """Score the resolution of ingested ``events`` against the generator's truth.

    Events are matched to truth records by source and record key (``origin`` is
    ``<file>#<record key>``); events no profile claims count as singletons. With
    ``probable`` (the probable links to judge, e.g. the served ones), ``probable_scores``'
    figures are added. ``max_anonymous_ids_per_device`` is the K the resolution ran with.
    """
    from pipelines.profiles.build import linked_events

    record_id = F.concat_ws("/", _truth_source(), F.split("origin", "#")[1])
    # One lookup per event; profile_id is null where no profile claims the event.
    predicted = linked_events(events, links).select(record_id.alias("record_id"), "profile_id")
    truth = record_truth.where("person_id IS NOT NULL").select(
        F.concat_ws("/", "source", "record_key").alias("record_id"), "person_id"
    )
    records = events.select(record_id.alias("record_id"), "identifiers").join(
        truth, "record_id").cache()
    predicted = predicted.cache()
    # Both groupings in one pass, kept for the three recalls that read them.
    groups = linkable_groups(records, identifier_truth,
                             weak_devices(records, max_anonymous_ids_per_device)).cache()
    scores = evaluate(predicted, records, identifier_truth, groups)
    if probable is not None:
        scores |= probable_scores(predicted, records, identifier_truth, probable, groups)
    groups.unpersist()
    return scores
