"""The churn model: XGBoost on point-in-time features, labelled by what happened next.

Rules (docs/segments.md):
- Population: profiles matching ``models.churn.population`` (default: has bought) at as_of.
- Label ``churned`` = 1 when the profile placed no order in the ``horizon_days`` (N) days
  after as_of, i.e. dates in (as_of, as_of + N]; orders refunded later still count as a
  return.
- Windows at a run date T: the model is trained on features as of T − 2N labelled over
  (T − 2N, T − N] and evaluated on a later, disjoint holdout: features as of T − N labelled
  over (T − N, T]. Features come from ``build_features`` at their own as_of, which reads no
  event after it (the leakage guard, tested); only labels look forward, and never past T.
- Training and holdout use the same deterministic sample of at most ``max_profiles``
  profiles (hash of profile_id) when there are more: enough for the model, and it keeps
  building the two earlier snapshots cheap on a cold lakehouse.
- Hyperparameters: grid search (``param_grid``) with stratified k-fold cross-validation on
  the training window, by ROC AUC. Single-node ``xgboost.XGBClassifier`` on pandas when the
  training set has at most ``single_node_max_rows`` rows, ``xgboost.spark`` otherwise.
- Baseline: recency only — ``recency_days`` itself as the score (longer = likelier churn).
- Reasons: each score carries its top three reasons, the features with the largest XGBoost
  contributions (``pred_contribs``: per feature, in log-odds; with the bias they add up to the
  score's margin) by absolute size, ties by feature name, zero contributions left out; each is
  said in plain words from ``models.churn.reason_labels`` with the feature's value and whether
  it raises or lowers the risk (``reason_text``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pipelines.config import Conf, ConfigError
from pipelines.models.treeshap import GroupedTreeShap

LABEL = "churned"
# Rows scored together on an executor: TreeSHAP runs once per distinct decision path of each
# tree, and more rows share more paths (contributions for the 1M bench's buyers, one core:
# 10,000 rows 1.2 s instead of 3.3 s, 100,000 rows 3.9 s instead of 36.9 s).
SCORING_CHUNK_ROWS = 200_000


@dataclass(frozen=True)
class ChurnParams:
    features: tuple[str, ...]
    horizon_days: int = 60
    population: str = "orders_lifetime > 0"
    single_node_max_rows: int = 2_000_000
    spark_num_workers: int = 2
    cv_folds: int = 3
    param_grid: dict[str, tuple[Any, ...]] = field(
        default_factory=lambda: {
            "max_depth": (3, 5),
            "learning_rate": (0.1,),
            "n_estimators": (100,),
        }
    )
    seed: int = 42
    max_profiles: int = 200_000
    medium_from: float = 0.4
    high_from: float = 0.7
    calibration_bins: int = 10
    reason_labels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_conf(cls, conf: Conf) -> ChurnParams:
        c = conf.get("models.churn")
        grid = c.get("param_grid").to_dict()
        return cls(
            features=tuple(c.get("features")),
            horizon_days=int(c.get("horizon_days")),
            population=str(c.get("population")),
            single_node_max_rows=int(c.get("single_node_max_rows")),
            spark_num_workers=int(c.get("spark_num_workers")),
            cv_folds=int(c.get("cv_folds")),
            param_grid={k: tuple(v) for k, v in grid.items()},
            seed=int(c.get("seed")),
            max_profiles=int(c.get("max_profiles")),
            medium_from=float(c.get("bands.medium_from")),
            high_from=float(c.get("bands.high_from")),
            calibration_bins=int(c.get("calibration_bins")),
            reason_labels=reason_labels(c),
        )


def reason_labels(section: Any) -> dict[str, str]:
    """Every model feature's plain-words name (``models.churn.reason_labels``); a feature
    without one fails here, naming it, rather than reaching a customer as a column name."""
    labels = {str(k): str(v) for k, v in section.get("reason_labels").to_dict().items()}
    missing = [f for f in section.get("features") if f not in labels]
    if missing:
        raise ConfigError(f"models.churn.reason_labels has no plain words for {missing}")
    return labels


@dataclass(frozen=True)
class Windows:
    """The as_of dates of the training and holdout snapshots for a run date."""

    run_date: date
    train_as_of: date
    holdout_as_of: date

    @classmethod
    def for_run(cls, run_date: date, horizon_days: int) -> Windows:
        n = timedelta(days=horizon_days)
        return cls(run_date, run_date - 2 * n, run_date - n)


@dataclass
class ChurnModel:
    booster: Any  # xgboost.Booster
    feature_names: list[str]
    best_params: dict[str, Any]
    cv_auc: float
    engine: str  # "xgboost" (single node) or "xgboost.spark"
    train_rows: int
    positive_rate: float


def profile_sample(df: DataFrame, fraction: float, seed: int) -> DataFrame:
    """A deterministic sample of profiles (by a hash of profile_id): the same profiles in
    every frame and every run, whatever the partitioning."""
    if fraction >= 1.0:
        return df
    bucket = F.pmod(F.xxhash64(F.col("profile_id"), F.lit(seed)), F.lit(1_000_000))
    return df.where(bucket < int(fraction * 1_000_000))


def labelled(features: DataFrame, events: DataFrame, as_of: date, params: ChurnParams) -> DataFrame:
    """The population rows of ``features`` (as of ``as_of``) with ``churned``: 1 when no
    ``order_placed`` falls on a date in (as_of, as_of + horizon]."""
    end = as_of + timedelta(days=params.horizon_days)
    d = F.to_date("event_time")
    returned = (
        events.where(
            (F.col("event_type") == "order_placed") & (d > F.lit(as_of)) & (d <= F.lit(end))
        )
        .select("profile_id")
        .distinct()
        .withColumn("_returned", F.lit(True))
    )
    population = features.where(F.expr(params.population))
    return (
        population.join(returned, "profile_id", "left")
        .withColumn(LABEL, F.when(F.col("_returned").isNull(), 1).otherwise(0))
        .drop("_returned")
    )


def model_frame(df: DataFrame, feature_names: list[str], extra: tuple[str, ...] = ()) -> DataFrame:
    """Feature columns as doubles (null → NaN, which XGBoost treats as missing)."""
    cols = [
        F.coalesce(F.col(c).cast("double"), F.lit(float("nan"))).alias(c) for c in feature_names
    ]
    return df.select(*[F.col(c) for c in extra if c in df.columns], *cols)


def train_churn(train: DataFrame, params: ChurnParams) -> ChurnModel:
    """Cross-validated XGBoost on a labelled training window (``labelled`` output).

    Raises:
        ValueError: the window has too few rows of either class to cross-validate.
    """
    names = [c for c in params.features if c in train.columns]
    counts = {int(r[LABEL]): int(r["count"]) for r in train.groupBy(LABEL).count().collect()}
    rows = sum(counts.values())
    if min(counts.get(0, 0), counts.get(1, 0)) < params.cv_folds:
        raise ValueError(
            f"churn training window has {counts.get(1, 0)} churned and {counts.get(0, 0)} "
            f"returning profiles: too few of a class for {params.cv_folds}-fold CV"
        )
    if rows <= params.single_node_max_rows:
        # In profile order: the CV folds (hence the chosen parameters and the model) then
        # depend on the data only, not on how Spark happened to partition it.
        ordered = train.orderBy("profile_id") if "profile_id" in train.columns else train
        model = _train_single_node(model_frame(ordered, names, (LABEL,)).toPandas(), names,
                                   params)
    else:
        model = _train_spark(model_frame(train, names, (LABEL,)), names, params)
    model.train_rows = rows
    model.positive_rate = counts.get(1, 0) / rows
    return model


def _train_single_node(pdf: pd.DataFrame, names: list[str], params: ChurnParams) -> ChurnModel:
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from xgboost import XGBClassifier

    X, y = pdf[names].astype("float64"), pdf[LABEL].astype("int64")
    search = GridSearchCV(
        XGBClassifier(
            tree_method="hist",
            eval_metric="logloss",
            random_state=params.seed,
            n_jobs=min(2, os.cpu_count() or 1),
        ),
        {k: list(v) for k, v in params.param_grid.items()},
        scoring="roc_auc",
        cv=StratifiedKFold(n_splits=params.cv_folds, shuffle=True, random_state=params.seed),
        refit=True,
        n_jobs=1,
    )
    search.fit(X, y)
    return ChurnModel(
        booster=search.best_estimator_.get_booster(),
        feature_names=names,
        best_params=dict(search.best_params_),
        cv_auc=float(search.best_score_),
        engine="xgboost",
        train_rows=len(pdf),
        positive_rate=float(y.mean()),
    )


def _train_spark(df: DataFrame, names: list[str], params: ChurnParams) -> ChurnModel:
    from pyspark.ml.evaluation import BinaryClassificationEvaluator
    from pyspark.ml.tuning import CrossValidator, ParamGridBuilder
    from xgboost.spark import SparkXGBClassifier

    estimator = SparkXGBClassifier(
        features_col=names,
        label_col=LABEL,
        num_workers=params.spark_num_workers,
        tree_method="hist",
        random_state=params.seed,
    )
    grid = ParamGridBuilder()
    for key, values in params.param_grid.items():
        grid = grid.addGrid(estimator.getParam(key), list(values))
    cv = CrossValidator(
        estimator=estimator,
        estimatorParamMaps=grid.build(),
        evaluator=BinaryClassificationEvaluator(labelCol=LABEL, metricName="areaUnderROC"),
        numFolds=params.cv_folds,
        seed=params.seed,
    )
    fitted = cv.fit(df)
    best = int(np.argmax(fitted.avgMetrics))
    booster = fitted.bestModel.get_booster()
    booster.feature_names = names
    best_params = {p.name: v for p, v in fitted.getEstimatorParamMaps()[best].items()}
    return ChurnModel(
        booster=booster,
        feature_names=names,
        best_params=best_params,
        cv_auc=float(fitted.avgMetrics[best]),
        engine="xgboost.spark",
        train_rows=0,
        positive_rate=float("nan"),
    )


def score_churn(
    features: DataFrame,
    booster: Any,
    population: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> DataFrame:
    """(profile_id, churn_score, churn_reasons) for the rows of ``features`` (matching
    ``population``), scored on the executors with the booster's own feature names; the
    reasons say the top three contributions in the words of ``labels``."""
    names = list(booster.feature_names)
    raw = bytes(booster.save_raw("ubj"))
    words = dict(labels or {})
    rows = features.where(F.expr(population)) if population else features
    frame = model_frame(rows, names, ("profile_id",))

    def predict(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import xgboost as xgb

        model = xgb.Booster()
        model.load_model(bytearray(raw))
        model.set_param({"nthread": 1})
        shap = GroupedTreeShap(model)
        for pdf in _chunks(batches, SCORING_CHUNK_ROWS):
            X = pdf[names].astype("float64")
            scores = model.inplace_predict(X) if len(pdf) else []
            reasons = top_reasons(shap, X, words) if len(pdf) else []
            yield pd.DataFrame(
                {
                    "profile_id": pdf["profile_id"],
                    "churn_score": np.asarray(scores, "float64"),
                    "churn_reasons": reasons,
                }
            )

    return frame.mapInPandas(
        predict, "profile_id string, churn_score double, churn_reasons array<string>"
    )


def _chunks(batches: Iterator[pd.DataFrame], rows: int) -> Iterator[pd.DataFrame]:
    """Consecutive batches joined until each piece holds at least ``rows`` rows."""
    pending: list[pd.DataFrame] = []
    size = 0
    for pdf in batches:
        pending.append(pdf)
        size += len(pdf)
        if size >= rows:
            yield pd.concat(pending, ignore_index=True)
            pending, size = [], 0
    if pending:
        yield pd.concat(pending, ignore_index=True)


def contributions(booster: Any, X: pd.DataFrame) -> np.ndarray:
    """Per row, each feature's contribution to the margin (log-odds), then the bias: XGBoost's
    ``pred_contribs`` (TreeSHAP), bit for bit. A row's contributions sum to its margin."""
    return GroupedTreeShap(booster)(X).astype("float64")


def top_reasons(
    shap: GroupedTreeShap, X: pd.DataFrame, labels: Mapping[str, str], top: int = 3
) -> list[list[str]]:
    """The ``top`` reasons of each row's score (see the module rules), as plain words."""
    contribs = shap(X)[:, :-1].astype("float64")  # the last column is the bias
    return rank_reasons(list(X.columns), X.to_numpy(dtype="float64"), contribs, labels, top)


def rank_reasons(
    names: list[str],
    values: np.ndarray,
    contribs: np.ndarray,
    labels: Mapping[str, str],
    top: int = 3,
) -> list[list[str]]:
    """Each row's reasons (rows of ``values`` / ``contribs``, one column per name): largest
    absolute contribution first, ties by feature name, zero contributions left out. Sorted
    with numpy per batch; only the kept reasons become text."""
    by_name = np.argsort(np.argsort(names, kind="stable"))  # each column's rank by name
    size = np.abs(contribs)
    order = np.lexsort((np.broadcast_to(by_name, size.shape), -size), axis=-1)[:, :top]
    words = [labels.get(n, n) for n in names]
    out = []
    for row, picked in enumerate(order):
        out.append(
            [
                reason_text(words[i], values[row, i], contribs[row, i])
                for i in picked
                if contribs[row, i] != 0
            ]
        )
    return out


def reason_text(label: str, value: float, contribution: float) -> str:
    """``"<label>: <value> (raises|lowers the churn risk)"``; a missing value is ``unknown``."""
    if value is None or math.isnan(value):
        shown = "unknown"
    elif float(value).is_integer():
        shown = str(int(value))
    else:
        shown = f"{value:.2f}".rstrip("0").rstrip(".")
    effect = "raises" if contribution > 0 else "lowers"
    return f"{label}: {shown} ({effect} the churn risk)"


def predict(booster: Any, pdf: pd.DataFrame) -> np.ndarray:
    """Driver-side scores for a pandas frame holding the booster's feature columns."""
    X = pdf[list(booster.feature_names)].astype("float64")
    return np.asarray(booster.inplace_predict(X), dtype="float64")


def baseline_score(pdf: pd.DataFrame) -> np.ndarray:
    """Recency-only baseline: days since the last order (missing → longest seen + 1)."""
    r = pdf["recency_days"].astype("float64")
    return r.fillna((r.max() if r.notna().any() else 0.0) + 1).to_numpy()


def evaluate(y: np.ndarray, score: np.ndarray, bins: int = 10) -> dict[str, float]:
    """ROC AUC, PR AUC (average precision), Brier score and expected calibration error."""
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    y = np.asarray(y, dtype="int64")
    score = np.asarray(score, dtype="float64")
    if len(set(y.tolist())) < 2:
        raise ValueError("holdout has a single class: AUC is undefined")
    out = {
        "auc": float(roc_auc_score(y, score)),
        "pr_auc": float(average_precision_score(y, score)),
        "positive_rate": float(y.mean()),
        "rows": float(len(y)),
    }
    if score.min() >= 0 and score.max() <= 1:  # probabilities: calibration is meaningful
        table = calibration_table(y, score, bins)
        out["brier"] = float(brier_score_loss(y, score))
        out["ece"] = float(
            (table["n"] * (table["observed"] - table["predicted"]).abs()).sum() / len(y)
        )
    return out


def calibration_table(y: np.ndarray, score: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Equal-width score bins: rows, mean predicted and observed churn rate per bin."""
    frame = pd.DataFrame({"y": y, "p": score})
    frame["bin"] = np.minimum((frame["p"] * bins).astype(int), bins - 1)
    table = frame.groupby("bin").agg(
        n=("y", "size"), predicted=("p", "mean"), observed=("y", "mean")
    )
    return table.reset_index()


def calibration_figure(tables: dict[str, pd.DataFrame]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
    for label, t in tables.items():
        ax.plot(t["predicted"], t["observed"], marker="o", label=label)
    ax.set_xlabel("predicted churn probability")
    ax.set_ylabel("observed churn rate")
    ax.set_title("Calibration on the holdout window")
    ax.legend()
    fig.tight_layout()
    return fig


def roc_points(y: np.ndarray, score: np.ndarray, max_points: int = 101) -> dict[str, list[float]]:
    """The ROC curve of ``score`` against ``y`` as ``{"fpr": […], "tpr": […]}``, thinned to at
    most ``max_points`` points (both ends kept) so every run can log it as a small JSON."""
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(np.asarray(y, dtype="int64"), np.asarray(score, dtype="float64"))
    if len(fpr) > max_points:
        keep = np.unique(np.linspace(0, len(fpr) - 1, max_points).round().astype(int))
        fpr, tpr = fpr[keep], tpr[keep]
    return {"fpr": [round(float(v), 5) for v in fpr], "tpr": [round(float(v), 5) for v in tpr]}


def roc_figure(curves: dict[str, dict[str, list[float]]]):
    """One ROC curve per label (``roc_points`` output), with the chance diagonal."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    for label, c in curves.items():
        ax.plot(c["fpr"], c["tpr"], label=label)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title("ROC on the holdout window")
    ax.legend()
    fig.tight_layout()
    return fig


def importance_table(booster: Any, top: int = 20) -> pd.Series:
    """The ``top`` features by total gain, largest first (features never split on: absent)."""
    gain = pd.Series(booster.get_score(importance_type="gain"), dtype="float64")
    return gain.sort_values(ascending=False).head(top).rename("gain")


def importance_figure(booster: Any, top: int = 20):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = list(importance_table(booster, top).items())[::-1]
    fig, ax = plt.subplots(figsize=(6, 0.35 * max(len(items), 3) + 1))
    ax.barh([k for k, _ in items], [v for _, v in items])
    ax.set_xlabel("gain")
    ax.set_title("Churn model feature importance")
    fig.tight_layout()
    return fig
