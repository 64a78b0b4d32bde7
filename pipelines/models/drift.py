"""Feature drift against the previous as_of: the population stability index (PSI).

For each column, bins come from the *previous* snapshot: its ``bins``-quantiles (deduplicated)
are the cut points, a value falls in bin = the number of cut points strictly below it, and
nulls form their own bin. With p/q the shares of the previous/current rows per bin (floored
at 1e-4 so an empty bin does not divide by zero):

    PSI = Σ (q − p) · ln(q / p)

Rule of thumb: < 0.1 stable, 0.1–0.2 moderate, > ``models.drift.psi_alert`` (0.2) drifted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

FLOOR = 1e-4
NULL_BIN = -1


def quantile_cuts(
    previous: DataFrame, columns: Sequence[str], bins: int, error: float = 0.001
) -> dict[str, list[float]]:
    """Deduplicated ``bins``-quantiles of each column (nulls ignored), in one Spark job."""
    probabilities = [i / bins for i in range(1, bins)]
    values = previous.approxQuantile([c for c in columns], probabilities, error) if columns else []
    return {c: sorted({float(v) for v in q}) for c, q in zip(columns, values, strict=True)}


def bin_of(value: Column, cuts: Sequence[float]) -> Column:
    index = F.lit(0)
    for c in cuts:
        index = index + F.when(value > F.lit(c), 1).otherwise(0)
    return F.when(value.isNull(), F.lit(NULL_BIN)).otherwise(index)


def shares(df: DataFrame, cuts: dict[str, Sequence[float]]) -> dict[str, dict[int, float]]:
    """Share of rows per bin for every column, in one aggregation."""
    aggs = []
    for column, c in cuts.items():
        b = bin_of(F.col(column).cast("double"), c)
        for k in [NULL_BIN, *range(len(c) + 1)]:
            aggs.append(F.count(F.when(b == k, 1)).alias(f"{column}|{k}"))
    row = df.agg(F.count(F.lit(1)).alias("__n"), *aggs).first().asDict()
    total = row.pop("__n")
    out: dict[str, dict[int, float]] = {c: {} for c in cuts}
    for key, n in row.items():
        column, k = key.rsplit("|", 1)
        if n and total:
            out[column][int(k)] = n / total
    return out


def psi_from_shares(previous: dict[int, float], current: dict[int, float]) -> float:
    total = 0.0
    for b in set(previous) | set(current):
        p = max(previous.get(b, 0.0), FLOOR)
        q = max(current.get(b, 0.0), FLOOR)
        total += (q - p) * math.log(q / p)
    return total


def feature_psi(
    current: DataFrame, previous: DataFrame, columns: Sequence[str], bins: int = 10
) -> dict[str, float]:
    """PSI per column between two snapshots (definition in the module docstring)."""
    cast = [F.col(c).cast("double").alias(c) for c in columns]
    cuts = quantile_cuts(previous.select(*cast), columns, bins)
    before, after = shares(previous, cuts), shares(current, cuts)
    return {c: round(psi_from_shares(before[c], after[c]), 6) for c in columns}
