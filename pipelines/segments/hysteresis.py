"""Hysteresis: a profile keeps its segment and churn band through small changes.

Rules (docs/segments.md), applied when the profile has a row at the previous as_of no more
than ``segments.hysteresis.max_gap_days`` earlier:
- Rule segments: a profile is in a segment when its ``condition`` holds, or when it was in
  the segment at the previous as_of and the rule's looser ``keep_condition`` still holds.
  Entering takes the full condition; leaving takes falling below the keep condition.
- Churn band: each band edge moves by ``churn_band_margin`` against a change: a profile whose
  previous band is at or above an edge leaves it only below ``edge − margin``; one below it
  crosses it only at ``edge + margin`` or more.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column
from pyspark.sql import functions as F

from pipelines.config import Conf

BANDS = ("low", "medium", "high")


@dataclass(frozen=True)
class HysteresisParams:
    enabled: bool = True
    max_gap_days: int = 7
    churn_band_margin: float = 0.05

    @classmethod
    def from_conf(cls, conf: Conf) -> HysteresisParams:
        h = conf.get("segments.hysteresis")
        return cls(
            enabled=bool(h.get("enabled")),
            max_gap_days=int(h.get("max_gap_days")),
            churn_band_margin=float(h.get("churn_band_margin")),
        )


def churn_band(
    score: Column, edges: tuple[float, float], previous: Column, margin: float
) -> Column:
    """``low`` / ``medium`` / ``high`` for ``score`` with the edges (medium_from, high_from);
    ``previous`` (a band or null) shifts each edge by ``margin`` against a change."""
    prev_index = (
        F.when(previous == "low", 0).when(previous == "medium", 1).when(previous == "high", 2)
    )
    index = F.lit(0)
    for k, edge in enumerate(edges, start=1):
        shift = F.when(prev_index.isNull(), 0.0).when(prev_index >= k, -margin).otherwise(margin)
        index = index + F.when(score >= F.lit(edge) + shift, 1).otherwise(0)
    return F.when(score.isNull(), F.lit(None).cast("string")).otherwise(
        F.element_at(F.array(*[F.lit(b) for b in BANDS]), index + 1)
    )


def sticky_member(enter: Column, keep: Column, was_member: Column) -> Column:
    """In the segment: the condition holds, or it was a member and the keep condition holds."""
    return F.coalesce(enter, F.lit(False)) | (
        F.coalesce(was_member, F.lit(False)) & F.coalesce(keep, F.lit(False))
    )
