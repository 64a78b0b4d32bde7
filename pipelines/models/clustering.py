"""Behavioural clusters: a Spark ML pipeline (assembler → scaler → KMeans or bisecting k-means)
with k chosen by silhouette, and a readable name for each cluster from its centroid.

Rules (docs/segments.md):
- Inputs are the configured feature columns; nulls become 0 (``recency_days`` of a
  never-buyer becomes ``recency_fill_days``), skewed columns go through log1p, then every
  column is scaled to sd 1; centroids are reported minus the mean, so a centroid
  coordinate reads as a z-score.
- Every algorithm in conf is fitted for every k in [k_min, k_max] on the same sample (at most
  ``sample_rows`` profiles, seeded); the (algorithm, k) with the highest silhouette
  (squared Euclidean) wins; ties go to the smaller k, then the order of the algorithms in conf.
- A cluster's name is made of the words of its (at most two) coordinates with the largest
  |z| ≥ ``name_threshold`` — the column's ``high`` word when above the mean, ``low`` when
  below — e.g. "Lapsed, Low Spend"; a centroid with no such coordinate is "Typical". Equal
  names get the next word, then a number.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.clustering import BisectingKMeans, KMeans
from pyspark.ml.evaluation import ClusteringEvaluator
from pyspark.ml.feature import SQLTransformer, StandardScaler, VectorAssembler
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pipelines.config import Conf, ConfigError

ALGORITHMS = ("kmeans", "bisecting_kmeans")
LAYOUT_PARTITIONS = 8  # of the training frame (see fit_clustering); not a tuning knob


@dataclass(frozen=True)
class ClusterFeature:
    column: str
    high: str
    low: str


@dataclass(frozen=True)
class ClusteringParams:
    features: tuple[ClusterFeature, ...]
    log1p: tuple[str, ...] = ()
    recency_fill_days: int = 730
    k_min: int = 3
    k_max: int = 6
    algorithms: tuple[str, ...] = ALGORITHMS
    sample_rows: int = 100_000
    max_iter: int = 20
    name_threshold: float = 0.5
    seed: int = 42

    def __post_init__(self) -> None:
        if not 2 <= self.k_min <= self.k_max:
            raise ConfigError("models.clustering: need 2 <= k_min <= k_max")
        bad = set(self.algorithms) - set(ALGORITHMS)
        if bad or not self.algorithms:
            raise ConfigError(f"models.clustering.algorithms: use some of {ALGORITHMS}")

    @property
    def columns(self) -> list[str]:
        return [f.column for f in self.features]

    @classmethod
    def from_conf(cls, conf: Conf) -> ClusteringParams:
        c = conf.get("models.clustering")
        return cls(
            features=tuple(
                ClusterFeature(str(f["column"]), str(f["high"]), str(f["low"]))
                for f in c.get("features")
            ),
            log1p=tuple(c.get("log1p")),
            recency_fill_days=int(c.get("recency_fill_days")),
            k_min=int(c.get("k_min")),
            k_max=int(c.get("k_max")),
            algorithms=tuple(c.get("algorithms")),
            sample_rows=int(c.get("sample_rows")),
            max_iter=int(c.get("max_iter")),
            name_threshold=float(c.get("name_threshold")),
            seed=int(c.get("seed")),
        )


@dataclass
class ClusteringResult:
    model: PipelineModel
    algorithm: str
    k: int
    silhouettes: dict[str, float]  # "<algorithm>_k<k>" -> silhouette
    centroids: list[list[float]]  # z-scores, one list per cluster id
    names: dict[int, str]
    sample_rows: int
    columns: list[str] = field(default_factory=list)

    @property
    def silhouette(self) -> float:
        return self.silhouettes[f"{self.algorithm}_k{self.k}"]

    def names_json(self) -> str:
        return json.dumps(
            {
                "algorithm": self.algorithm,
                "k": self.k,
                "columns": self.columns,
                "names": {str(k): v for k, v in self.names.items()},
                "centroids": self.centroids,
                "silhouettes": self.silhouettes,
            },
            indent=1,
        )


def prepare_sql(params: ClusteringParams) -> str:
    """The SQLTransformer statement that fills and log-transforms the inputs into ``x_<col>``
    columns; part of the saved pipeline, so scoring applies exactly what fitting did."""
    parts = []
    for c in params.columns:
        fill = float(params.recency_fill_days) if c == "recency_days" else 0.0
        value = f"coalesce(cast(`{c}` as double), {fill})"
        if c in params.log1p:
            value = f"log1p(greatest({value}, 0.0))"
        parts.append(f"{value} AS `x_{c}`")
    return f"SELECT profile_id, {', '.join(parts)} FROM __THIS__"


def _estimator(algorithm: str, k: int, seed: int, max_iter: int):
    if algorithm == "kmeans":
        return KMeans(
            k=k, seed=seed, featuresCol="features", predictionCol="cluster_id", maxIter=max_iter
        )
    return BisectingKMeans(
        k=k, seed=seed, featuresCol="features", predictionCol="cluster_id", maxIter=max_iter
    )


def fit_clustering(features: DataFrame, params: ClusteringParams) -> ClusteringResult:
    """Fit every (algorithm, k) on a sample and keep the best by silhouette.

    Args:
        features: the features rows of one as_of.
    Returns:
        The fitted pipeline (assembler, scaler, clusterer), its centroids and cluster names.
    """
    # Hash-partitioned by profile_id into a fixed number of partitions, each sorted: the
    # seeded sample and the seeded k-means initialisation then see the same rows in the same
    # partitions whatever the input's file layout, executor count or shuffle setting, so a
    # local run and a cluster run fit the same clusters (docs/deploy.md, "Equal").
    inputs = (features.select("profile_id", *params.columns)
              .repartition(LAYOUT_PARTITIONS, "profile_id")
              .sortWithinPartitions("profile_id"))
    total = inputs.count()
    if total < params.k_max + 1:
        raise ValueError(f"clustering needs more than {params.k_max} profiles, got {total}")
    fraction = min(1.0, params.sample_rows / total)
    sample = inputs if fraction >= 1.0 else inputs.sample(fraction=fraction, seed=params.seed)
    prep = Pipeline(
        stages=[
            SQLTransformer(statement=prepare_sql(params)),
            VectorAssembler(inputCols=[f"x_{c}" for c in params.columns], outputCol="raw_features"),
            # Scale without centering: bisecting k-means cannot split a cluster whose
            # center is the origin. Distances, hence clusters, do not change with a shift.
            StandardScaler(
                inputCol="raw_features", outputCol="features", withMean=False, withStd=True
            ),
        ]
    ).fit(sample)
    scaled = prep.transform(sample).select("features").persist()
    try:
        n = scaled.count()
        evaluator = ClusteringEvaluator(
            featuresCol="features", predictionCol="cluster_id", metricName="silhouette"
        )
        silhouettes: dict[str, float] = {}
        best: tuple[float, Any, str, int] | None = None
        for k in range(params.k_min, params.k_max + 1):
            for algorithm in params.algorithms:
                model = _estimator(algorithm, k, params.seed, params.max_iter).fit(scaled)
                score = float(evaluator.evaluate(model.transform(scaled)))
                score = score if math.isfinite(score) else -1.0
                silhouettes[f"{algorithm}_k{k}"] = round(score, 6)
                if best is None or score > best[0] + 1e-12:
                    best = (score, model, algorithm, k)
    finally:
        scaled.unpersist()
    assert best is not None
    _, model, algorithm, k = best
    scaler = prep.stages[2]
    offset = [
        m / sd if sd > 0 else 0.0
        for m, sd in zip(scaler.mean.toArray(), scaler.std.toArray(), strict=True)
    ]
    # Scaled centers minus the scaled mean: each coordinate reads as a z-score.
    centroids = [
        [round(float(v) - o, 6) for v, o in zip(c, offset, strict=True)]
        for c in model.clusterCenters()
    ]
    return ClusteringResult(
        model=PipelineModel(stages=[*prep.stages, model]),
        algorithm=algorithm,
        k=k,
        silhouettes=silhouettes,
        centroids=centroids,
        names=name_clusters(centroids, params),
        sample_rows=n,
        columns=params.columns,
    )


def _words(centroid: list[float], params: ClusteringParams) -> list[str]:
    ranked = sorted(
        ((abs(z), i, z) for i, z in enumerate(centroid) if abs(z) >= params.name_threshold),
        key=lambda t: (-t[0], t[1]),
    )
    return [params.features[i].high if z > 0 else params.features[i].low for _, i, z in ranked]


def name_clusters(centroids: list[list[float]], params: ClusteringParams) -> dict[int, str]:
    """Readable, unique names from z-score centroids (rules in the module docstring)."""
    words = [_words(c, params) for c in centroids]
    short = [", ".join(w[:2]) or "Typical" for w in words]
    clashing = {n for n in short if short.count(n) > 1}
    names = [
        ", ".join(w[:3]) if n in clashing and len(w) > 2 else n
        for n, w in zip(short, words, strict=True)
    ]
    seen: dict[str, int] = {}
    out = {}
    for i, name in enumerate(names):
        seen[name] = seen.get(name, 0) + 1
        out[i] = name if seen[name] == 1 else f"{name} ({seen[name]})"
    return out


def assign_clusters(features: DataFrame, result: ClusteringResult) -> DataFrame:
    """(profile_id, cluster_id, cluster_name) for every row of ``features``."""
    inputs = features.select("profile_id", *result.columns)
    scored = result.model.transform(inputs).select("profile_id", F.col("cluster_id").cast("int"))
    mapping = F.create_map(
        *[x for k, v in sorted(result.names.items()) for x in (F.lit(k), F.lit(v))]
    )
    return scored.withColumn("cluster_name", mapping[F.col("cluster_id")])


def centroid_figure(result: ClusteringResult, sizes: dict[str, int] | None = None):
    """Heatmap of the z-score centroids (clusters × columns), for MLflow and the report."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.6 + 1.1 * len(result.columns), 1.2 + 0.55 * result.k))
    data = result.centroids
    limit = max(1.0, max(abs(v) for row in data for v in row))
    image = ax.imshow(data, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(len(result.columns)), result.columns, rotation=35, ha="right")
    labels = [
        f"{result.names[i]} (n={sizes.get(result.names[i], 0):,})" if sizes else result.names[i]
        for i in range(result.k)
    ]
    ax.set_yticks(range(result.k), labels)
    for i, row in enumerate(data):
        for j, v in enumerate(row):
            ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=8)
    fig.colorbar(image, ax=ax, label="centroid (z-score)")
    ax.set_title(f"{result.algorithm}, k={result.k}, silhouette={result.silhouette:.3f}")
    fig.tight_layout()
    return fig
