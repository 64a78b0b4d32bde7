"""How good is the resolution: pairwise same-person precision and recall.

A *pair* is two records. Predicted pairs are pairs put in the same profile, true pairs are
pairs of the same person. With the contingency table n_ij = records in profile i and person j:

    TP = Σ C(n_ij, 2),  predicted pairs = Σ_i C(n_i·, 2),  true pairs = Σ_j C(n_·j, 2)

— three group-bys instead of the O(n²) pairs themselves.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F


def _pairs(count_column: str) -> Column:
    # Integer arithmetic: exact for any realistic count.
    return F.expr(f"`{count_column}` * (`{count_column}` - 1) div 2")


def pairwise_precision_recall(predicted: DataFrame, truth: DataFrame) -> dict[str, float | int]:
    """Pairwise precision and recall of ``predicted`` against ``truth``.

    Args:
        predicted: record_id, profile_id (one row per record). A record without a profile
            (null, or absent) counts as a profile of its own: it pairs with nobody.
        truth: record_id, person_id. Only records in ``truth`` are judged.
    Returns:
        precision (TP / predicted pairs; 1.0 when nothing was paired), recall (TP / true
        pairs; 1.0 when there is nothing to find), true_positive_pairs, predicted_pairs,
        true_pairs and records.
    """
    joined = truth.select("record_id", "person_id").join(
        predicted.select("record_id", "profile_id"), "record_id", "left"
    ).select(
        "person_id",
        # A singleton key that cannot collide with a real profile id.
        F.coalesce(F.col("profile_id"), F.concat(F.lit("\u0000unassigned:"), "record_id"))
        .alias("profile_id"),
    ).persist()
    try:
        cells = joined.groupBy("profile_id", "person_id").count()
        tp = cells.agg(F.sum(_pairs("count"))).first()[0] or 0
        predicted_pairs = joined.groupBy("profile_id").count().agg(
            F.sum(_pairs("count"))
        ).first()[0] or 0
        true_pairs = joined.groupBy("person_id").count().agg(
            F.sum(_pairs("count"))
        ).first()[0] or 0
        records = joined.count()
    finally:
        joined.unpersist()
    tp, predicted_pairs, true_pairs = int(tp), int(predicted_pairs), int(true_pairs)
    return {
        "precision": tp / predicted_pairs if predicted_pairs else 1.0,
        "recall": tp / true_pairs if true_pairs else 1.0,
        "true_positive_pairs": tp,
        "predicted_pairs": predicted_pairs,
        "true_pairs": true_pairs,
        "records": int(records),
    }
