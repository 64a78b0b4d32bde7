"""The segment report: segment sizes, example customers with their segments and churn risk,
and plots, as text on stdout and as an HTML page with PNGs.

``summarize`` turns the segments and features rows of one as_of into small pandas frames
(one Spark job per frame, nothing large reaches the driver); ``print_summary`` and
``write_report`` render them.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

EXAMPLE_COLUMNS = (
    "profile_id",
    "primary_segment",
    "rule_segments",
    "cluster_name",
    "churn_score",
    "churn_band",
    "rfm_label",
    "country",
    "spend_90d",
    "recency_days",
)


@dataclass
class SegmentSummary:
    as_of: date
    profiles: int
    primary: pd.DataFrame  # primary_segment, profiles, share
    rule_membership: pd.DataFrame  # segment, profiles (a profile may be in several)
    clusters: pd.DataFrame  # cluster_name, profiles, avg_churn
    churn_bands: pd.DataFrame  # churn_band, profiles
    rfm: pd.DataFrame  # rfm_label, profiles
    examples: pd.DataFrame
    model_versions: list[str] = field(default_factory=list)
    stale: int = 0
    churn_scores: pd.Series | None = None
    notes: list[str] = field(default_factory=list)


def _counts(df: DataFrame, column: str, name: str | None = None) -> pd.DataFrame:
    out = (
        df.groupBy(F.coalesce(F.col(column).cast("string"), F.lit("(none)")).alias(name or column))
        .agg(F.count(F.lit(1)).alias("profiles"))
        .orderBy(F.desc("profiles"), name or column)
        .toPandas()
    )
    return out


def summarize(
    segments: DataFrame, features: DataFrame, examples: int = 5, seed: int = 7
) -> SegmentSummary:
    """Summarize one as_of's segments (joined to its features for context).

    Examples are the ``examples`` highest-risk profiles plus as many picked by a seeded hash
    of profile_id (stable across runs), so the report shows both ends.
    """
    as_of = segments.select(F.max("as_of")).first()[0]
    joined = segments.join(
        features.select("profile_id", "as_of", "country", "spend_90d", "recency_days"),
        ["profile_id", "as_of"],
        "left",
    ).persist()
    try:
        total = joined.count()
        primary = _counts(joined, "primary_segment")
        primary["share"] = (primary["profiles"] / max(total, 1)).round(4)
        membership = _counts(joined.select(F.explode("rule_segments").alias("segment")), "segment")
        clusters = (
            joined.groupBy(F.coalesce("cluster_name", F.lit("(none)")).alias("cluster_name"))
            .agg(
                F.count(F.lit(1)).alias("profiles"),
                F.round(F.avg("churn_score"), 3).alias("avg_churn"),
            )
            .orderBy(F.desc("profiles"))
            .toPandas()
        )
        bands = _counts(joined, "churn_band")
        rfm = _counts(joined, "rfm_label")
        riskiest = joined.where(F.col("churn_score").isNotNull()).orderBy(
            F.desc("churn_score"), "profile_id"
        )
        picked = joined.orderBy(F.xxhash64("profile_id", F.lit(seed)), "profile_id")
        cols = [c for c in EXAMPLE_COLUMNS if c in joined.columns]
        ex = pd.concat(
            [
                riskiest.select(*cols).limit(examples).toPandas().assign(why="highest risk"),
                picked.select(*cols).limit(examples).toPandas().assign(why="sample"),
            ],
            ignore_index=True,
        ).drop_duplicates(subset=["profile_id"])
        versions = [
            r[0] for r in joined.select("model_version").distinct().collect() if r[0] is not None
        ]
        stale = joined.where(F.col("is_stale")).count()
        scores = (
            joined.where(F.col("churn_score").isNotNull())
            .select("churn_score")
            .sample(fraction=min(1.0, 20000 / max(total, 1)), seed=seed)
            .toPandas()["churn_score"]
        )
    finally:
        joined.unpersist()
    return SegmentSummary(
        as_of=as_of,
        profiles=total,
        primary=primary,
        rule_membership=membership,
        clusters=clusters,
        churn_bands=bands,
        rfm=rfm,
        examples=ex,
        model_versions=sorted(versions),
        stale=stale,
        churn_scores=scores,
    )


def print_summary(summary: SegmentSummary, mlflow_hint: str | None = None, out=print) -> None:
    """Segment sizes, example customers, and where the MLflow runs are."""
    out(f"Segments as of {summary.as_of}: {summary.profiles:,} profiles")
    out("\nPrimary segment sizes:")
    out(summary.primary.to_string(index=False))
    out("\nRule segment membership (a profile can be in several):")
    out(summary.rule_membership.to_string(index=False))
    out("\nClusters:")
    out(summary.clusters.to_string(index=False))
    out("\nChurn risk bands:")
    out(summary.churn_bands.to_string(index=False))
    out(
        f"\nStale profiles (no event for longer than the configured days): {summary.stale:,}"
        f"   churn model version(s): {', '.join(summary.model_versions) or 'none'}"
    )
    out("\nA few customers:")
    with pd.option_context("display.width", 200, "display.max_colwidth", 60):
        out(summary.examples.to_string(index=False))
    if mlflow_hint:
        out(f"\n{mlflow_hint}")


def _figures(summary: SegmentSummary) -> dict[str, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs = {}
    for name, frame, col, title in [
        ("primary_segments", summary.primary, "primary_segment", "Primary segment sizes"),
        ("rule_segments", summary.rule_membership, "segment", "Rule segment membership"),
        ("clusters", summary.clusters, "cluster_name", "Cluster sizes"),
        ("rfm", summary.rfm, "rfm_label", "RFM labels"),
    ]:
        if frame.empty:
            continue
        fig, ax = plt.subplots(figsize=(7, 0.4 * len(frame) + 1.2))
        ax.barh(frame[col].astype(str)[::-1], frame["profiles"][::-1])
        ax.set_xlabel("profiles")
        ax.set_title(title)
        fig.tight_layout()
        figs[name] = fig
    if summary.churn_scores is not None and len(summary.churn_scores):
        fig, ax = plt.subplots(figsize=(7, 3))
        ax.hist(summary.churn_scores, bins=20, range=(0, 1))
        ax.set_xlabel("churn score")
        ax.set_ylabel("profiles (sample)")
        ax.set_title("Churn score distribution")
        fig.tight_layout()
        figs["churn_scores"] = fig
    return figs


def write_report(
    summary: SegmentSummary, out_dir: str | Path, mlflow_hint: str | None = None
) -> Path:
    """Write ``index.html`` and one PNG per plot into ``out_dir``; returns the HTML path."""
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    images = []
    for name, fig in _figures(summary).items():
        fig.savefig(out / f"{name}.png", dpi=110)
        plt.close(fig)
        images.append(name)

    def table(frame: pd.DataFrame) -> str:
        return frame.to_html(index=False, border=0, classes="t", na_rep="")

    body = [
        f"<h1>Segment report — as of {summary.as_of}</h1>",
        f"<p>{summary.profiles:,} profiles; {summary.stale:,} stale; churn model version(s): "
        f"{html.escape(', '.join(summary.model_versions) or 'none')}</p>",
    ]
    if mlflow_hint:
        body.append(f"<p><code>{html.escape(mlflow_hint)}</code></p>")
    body += [
        "<h2>Primary segments</h2>",
        table(summary.primary),
        "<h2>Rule segment membership</h2>",
        table(summary.rule_membership),
        "<h2>Clusters</h2>",
        table(summary.clusters),
        "<h2>Churn risk bands</h2>",
        table(summary.churn_bands),
        "<h2>Example customers</h2>",
        table(summary.examples),
        "<h2>Plots</h2>",
        *[f'<img src="{n}.png" alt="{n}">' for n in images],
    ]
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Segments "
        f"{summary.as_of}</title><style>body{{font-family:sans-serif;margin:2em}}"
        "table.t{border-collapse:collapse}table.t td,table.t th{padding:2px 8px;"
        "border-bottom:1px solid #ddd}img{max-width:48%;margin:4px}</style></head><body>"
        + "\n".join(body)
        + "</body></html>"
    )
    path = out / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


ABSENT = "(absent)"


def segment_sizes(segments: DataFrame) -> pd.DataFrame:
    """Profiles per primary segment (rows) and as_of (columns, oldest first), 0 where a
    segment had nobody that day."""
    counts = (
        segments.groupBy(F.col("as_of").cast("string").alias("as_of"), "primary_segment")
        .agg(F.count(F.lit(1)).alias("profiles"))
        .toPandas()
    )
    table = counts.pivot_table(
        index="primary_segment", columns="as_of", values="profiles", fill_value=0, aggfunc="sum"
    )
    table = table.reindex(sorted(table.columns), axis=1)
    return table.sort_values(table.columns[-1], ascending=False).astype("int64")


def segment_movement(segments: DataFrame, before: date, after: date) -> pd.DataFrame:
    """How many profiles moved from each primary segment on ``before`` (rows) to each on
    ``after`` (columns); ``(absent)`` is a profile missing on that date (new or gone). The
    diagonal is who stayed put."""
    def on(day: date, name: str) -> DataFrame:
        return segments.where(F.col("as_of") == F.lit(day)).select(
            "profile_id", F.col("primary_segment").alias(name)
        )

    moves = (
        on(before, "from_segment")
        .join(on(after, "to_segment"), "profile_id", "full_outer")
        .select(
            F.coalesce("from_segment", F.lit(ABSENT)).alias("from_segment"),
            F.coalesce("to_segment", F.lit(ABSENT)).alias("to_segment"),
        )
        .groupBy("from_segment", "to_segment")
        .agg(F.count(F.lit(1)).alias("profiles"))
        .toPandas()
    )
    if moves.empty:
        return pd.DataFrame()
    table = moves.pivot_table(
        index="from_segment", columns="to_segment", values="profiles", fill_value=0,
        aggfunc="sum",
    )
    return table.astype("int64")


def rfm_grid(features: DataFrame) -> pd.DataFrame:
    """Buyers per RFM recency score (rows, 5 = most recent first) and frequency score
    (columns, 1–5) of one as_of's features; every cell is present, 0 when empty.
    Non-buyers have no scores and are not in the grid."""
    counts = (
        features.where(F.col("r_score").isNotNull() & F.col("f_score").isNotNull())
        .groupBy("r_score", "f_score")
        .agg(F.count(F.lit(1)).alias("profiles"))
        .toPandas()
    )
    scores = range(1, 6)
    grid = pd.DataFrame(0, index=pd.Index(scores[::-1], name="R"),
                        columns=pd.Index(scores, name="F"), dtype="int64")
    for r in counts.itertuples(index=False):
        grid.loc[int(r.r_score), int(r.f_score)] = int(r.profiles)
    return grid
