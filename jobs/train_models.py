"""Train tonight's models for one date: clustering and the churn model, tracked in MLflow.

    spark-submit <master, connectors, --py-files: docs/deploy.md> \\
        jobs/train_models.py --env cluster --as-of 2026-10-01
    python -m jobs.train_models --as-of 2026-10-01

Needs the ``features`` partition of as_of (jobs/build_features.py). Clustering: fits
KMeans and bisecting k-means over the k range, keeps the best silhouette, names the clusters
and saves the pipeline under ``models.clustering.model_dir``/<as_of>. Churn: trains on the
features as of as_of − 2N labelled over the next N days, evaluates on as_of − N (labels up
to as_of), registers the model and moves the ``champion`` alias only when the promotion gate
passes (docs/segments.md). Each model gets an MLflow run tagged with the as_of.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.build_features import load_events
from pipelines.catalog import Catalog
from pipelines.config import Conf
from pipelines.features import FeatureParams, build_features
from pipelines.models import runs
from pipelines.models.churn import (
    LABEL,
    ChurnParams,
    Windows,
    baseline_score,
    calibration_figure,
    calibration_table,
    evaluate,
    importance_figure,
    labelled,
    predict,
    profile_sample,
    roc_figure,
    roc_points,
    train_churn,
)
from pipelines.models.clustering import ClusteringParams, assign_clusters, fit_clustering
from pipelines.models.promotion import (
    PromotionParams,
    apply_decision,
    champion_version,
    decide,
    fairness_report,
)
from pipelines.nightly import io
from pipelines.nightly.cli import run_stage
from pipelines.tracking import configure_mlflow


def train_clustering(spark: SparkSession, conf: Conf, as_of: date, features: DataFrame) -> dict:
    params = ClusteringParams.from_conf(conf)
    with runs.stage_run("clustering", as_of) as run:
        result = fit_clustering(features, params)
        sizes = {
            r["cluster_name"]: int(r["count"])
            for r in assign_clusters(features, result).groupBy("cluster_name").count().collect()
        }
        runs.log_clustering(result, sizes, params)
        io.save_clustering(spark, result, io.clustering_location(conf, as_of))
    return {
        "clusters": f"{result.algorithm} k={result.k}",
        "silhouette": round(result.silhouette, 3),
        "clustering_run": run.info.run_id,
    }


def features_at(spark, conf: Conf, as_of: date, events: DataFrame, sample) -> DataFrame:
    """Features of an earlier as_of for the sampled profiles: the stored partition when there
    is one (identical by construction), else built from the sampled events."""
    if conf.get("nightly.reuse_stored_features"):
        stored = io.read_partition(spark, Catalog(conf), "features", as_of)
        if stored is not None:
            return sample(stored)
    return build_features(sample(events), as_of, FeatureParams.from_conf(conf))


def train_churn_model(spark, conf: Conf, as_of: date, events: DataFrame, profiles: int) -> dict:
    import mlflow

    params, gate = ChurnParams.from_conf(conf), PromotionParams.from_conf(conf)
    name = str(conf.get("models.churn.registered_model"))
    w = Windows.for_run(as_of, params.horizon_days)
    fraction = min(1.0, params.max_profiles / max(profiles, 1))

    def sample(df: DataFrame) -> DataFrame:
        return profile_sample(df, fraction, params.seed)

    with runs.stage_run("churn", as_of) as run:
        mlflow.log_param("profile_sample_fraction", round(fraction, 6))
        try:
            train = labelled(
                features_at(spark, conf, w.train_as_of, events, sample),
                events,
                w.train_as_of,
                params,
            )
            model = train_churn(train, params)
            hold = labelled(
                features_at(spark, conf, w.holdout_as_of, events, sample),
                events,
                w.holdout_as_of,
                params,
            )
            cols = dict.fromkeys(
                ["profile_id", LABEL, "recency_days", gate.fairness.attribute, *model.feature_names]
            )
            pdf = hold.select(*[F.col(c) for c in cols if c in hold.columns]).toPandas()
            y, scores = pdf[LABEL].to_numpy(), predict(model.booster, pdf)
            metrics = evaluate(y, scores, params.calibration_bins)
            base_scores = baseline_score(pdf)
            baseline = evaluate(y, base_scores)
        except ValueError as exc:  # too little history or a single-class window
            mlflow.set_tags({"skipped": "true", "skip_reason": str(exc)[:5000]})
            return {"churn": f"skipped: {exc}", "churn_run": run.info.run_id}
        client = mlflow.MlflowClient()
        current = champion_version(client, name)
        champion_auc, tables = (
            None,
            {"new model": calibration_table(y, scores, params.calibration_bins)},
        )
        curves = {
            "new model": roc_points(y, scores),
            "recency baseline": roc_points(y, base_scores),
        }
        if current:
            champ = mlflow.xgboost.load_model(f"models:/{name}/{current}")
            if set(champ.feature_names) <= set(pdf.columns):
                champ_scores = predict(champ, pdf)
                champion_auc = evaluate(y, champ_scores)["auc"]
                tables[f"champion v{current}"] = calibration_table(
                    y, champ_scores, params.calibration_bins
                )
                curves[f"champion v{current}"] = roc_points(y, champ_scores)
        groups = (
            pdf[gate.fairness.attribute] if gate.fairness.attribute in pdf else [None] * len(pdf)
        )
        fairness = fairness_report(groups, scores, params.high_from, gate.fairness)
        decision = decide(metrics["auc"], baseline["auc"], fairness, gate, champion_auc, current)
        figures = {
            "calibration": calibration_figure(tables),
            "feature_importance": importance_figure(model.booster),
            "roc": roc_figure(curves),
        }
        runs.log_churn(model, metrics, baseline, fairness, figures, w, params)
        version = runs.log_model(model, name)
        apply_decision(client, name, version, decision)
        runs.log_decision(decision, version)
    print(f"[churn {as_of}] v{version}: {decision.reason}", flush=True)
    return {
        "holdout_auc": round(metrics["auc"], 4),
        "baseline_auc": round(baseline["auc"], 4),
        "version": version,
        "promoted": decision.promote,
        "churn_run": run.info.run_id,
    }


def run(spark: SparkSession, conf: Conf, as_of: date, events: DataFrame | None = None) -> dict:
    features = io.read_partition(spark, Catalog(conf), "features", as_of)
    if features is None:
        raise RuntimeError(f"no features for {as_of}: run jobs/build_features.py first")
    configure_mlflow(conf)
    events = events if events is not None else load_events(spark, conf, as_of)
    profiles = features.count()
    return {
        **train_clustering(spark, conf, as_of, features),
        **train_churn_model(spark, conf, as_of, events, profiles),
    }


def main(argv: list[str] | None = None) -> None:
    run_stage(argv, __doc__, "models", run)


if __name__ == "__main__":
    main()
