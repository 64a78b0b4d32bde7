"""Clustering, the churn model, the promotion gate and drift — with the real Spark ML,
XGBoost and an MLflow sqlite store in a temporary folder (one per module: creating the
store's tables takes seconds)."""

from __future__ import annotations

import math
import random
from datetime import date, datetime

import mlflow
import numpy as np
import pandas as pd
import pytest

from pipelines.config import Conf
from pipelines.features import FeatureParams, build_features, features_schema
from pipelines.models import runs
from pipelines.models.churn import (
    LABEL,
    ChurnParams,
    baseline_score,
    contributions,
    evaluate,
    labelled,
    predict,
    rank_reasons,
    score_churn,
    top_reasons,
    train_churn,
)
from pipelines.models.clustering import (
    ClusterFeature,
    ClusteringParams,
    assign_clusters,
    fit_clustering,
    name_clusters,
)
from pipelines.models.drift import feature_psi, psi_from_shares
from pipelines.models.promotion import (
    CHAMPION,
    FairnessParams,
    PromotionParams,
    apply_decision,
    champion_version,
    decide,
    fairness_report,
)
from pipelines.models.treeshap import GroupedTreeShap
from pipelines.tracking import configure_mlflow
from tests.events_factory import event, events_df


@pytest.fixture(scope="module")
def tracking(base_conf, tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow")
    data = base_conf.to_dict()
    data["mlflow"].update(
        tracking_uri=f"sqlite:///{root}/mlflow.db", artifact_root=f"{root}/artifacts"
    )
    conf = Conf(data, base_conf.env, base_conf.files, base_conf.project_dir)
    configure_mlflow(conf)
    return conf


# --- clustering --------------------------------------------------------------------------

NAMING = ClusteringParams(
    features=(
        ClusterFeature("recency_days", "Lapsed", "Recent"),
        ClusterFeature("spend_365d", "High Spend", "Low Spend"),
        ClusterFeature("tickets_90d", "Support Heavy", "Self-Sufficient"),
    ),
    name_threshold=0.5,
)


def test_cluster_names_come_from_the_largest_centroid_coordinates():
    names = name_clusters(
        [
            [1.5, -1.3, 0.2],  # two coordinates past 0.5, largest first
            [-0.2, 0.1, 0.3],  # none: Typical
            [0.1, 0.9, 0.0],  # one
            [1.0, -0.9, 0.7],  # same two words as the first: a third word separates them
            [0.0, 0.0, 0.1],  # a second Typical gets a number
        ],
        NAMING,
    )
    assert names == {
        0: "Lapsed, Low Spend",
        1: "Typical",
        2: "High Spend",
        3: "Lapsed, Low Spend, Support Heavy",
        4: "Typical (2)",
    }


def _blobs(spark):
    """Three well-separated groups of 20 profiles; everything else 0."""
    rng = random.Random(3)
    groups = {
        "lapsed": dict(
            recency_days=300,
            orders_365d=0,
            spend_365d=10,
            tickets_90d=0,
            sessions_90d=0,
            engagement_score=0.0,
        ),
        "big": dict(
            recency_days=5,
            orders_365d=12,
            spend_365d=2500,
            tickets_90d=0,
            sessions_90d=20,
            engagement_score=8.0,
        ),
        "needy": dict(
            recency_days=35,
            orders_365d=2,
            spend_365d=150,
            tickets_90d=9,
            sessions_90d=2,
            engagement_score=1.0,
        ),
    }
    schema = features_schema()
    rows = []
    for g, centre in groups.items():
        for i in range(20):
            row = {f.name: None for f in schema.fields}
            for k, v in centre.items():
                jitter = 1 + rng.uniform(-0.08, 0.08)
                row[k] = (
                    float(v * jitter)
                    if isinstance(v, float) or k == "spend_365d"
                    else (int(round(v * jitter)))
                )
            row.update(profile_id=f"{g}-{i}", as_of=date(2026, 9, 30))
            rows.append(row)
    return spark.createDataFrame(rows, schema)


def test_clustering_picks_k_by_silhouette_names_clusters_and_logs_a_run(spark, tracking):
    base = ClusteringParams.from_conf(tracking)
    params = ClusteringParams(
        features=base.features, log1p=base.log1p, k_min=2, k_max=4, sample_rows=1000
    )
    features = _blobs(spark)
    result = fit_clustering(features, params)
    assert result.k == 3
    assert set(result.silhouettes) == {f"{a}_k{k}" for a in params.algorithms for k in (2, 3, 4)}
    assert result.silhouette == max(result.silhouettes.values())
    got = {r.profile_id: r.cluster_name for r in assign_clusters(features, result).collect()}
    by_group = {
        g: {n for p, n in got.items() if p.startswith(g)} for g in ("lapsed", "big", "needy")
    }
    assert all(len(names) == 1 for names in by_group.values())  # each blob is one cluster
    lapsed, big, needy = (next(iter(by_group[g])) for g in ("lapsed", "big", "needy"))
    assert len({lapsed, big, needy}) == 3
    assert "Lapsed" in lapsed and "Support Heavy" in needy
    assert any(w in big for w in ("Frequent", "High Spend", "Browsers", "Engaged"))

    with mlflow.start_run() as run:
        runs.log_clustering(result, {lapsed: 20, big: 20, needy: 20}, params)
    logged = mlflow.get_run(run.info.run_id)
    assert logged.data.params["k"] == "3" and logged.data.params["algorithm"] == result.algorithm
    assert logged.data.metrics["silhouette"] == pytest.approx(result.silhouette)
    assert logged.data.metrics[f"cluster_size.{lapsed.replace(' ', '_').replace(',', '_')}"] == 20
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "plots")}
    assert "plots/centroids.png" in artifacts


# --- churn: labels and the leakage guard ---------------------------------------------------

AS_OF = date(2026, 6, 30)
HORIZON = ChurnParams(features=("recency_days",), horizon_days=30)


def _order(eid, at, profile):
    return event(
        eid, "order_placed", f"{at}T12:00:00", profile, "orders", order_id=eid, amount=10.0
    )


def test_labels_look_only_at_the_horizon_and_features_only_at_the_past(spark):
    rows = [
        _order("a1", "2026-06-01", "A"),
        _order("a2", "2026-07-10", "A"),  # returns: 0
        _order("b1", "2026-06-01", "B"),  # never returns: 1
        _order("c1", "2026-06-01", "C"),
        _order("c2", "2026-07-31", "C"),  # day 31: 1
        _order("d1", "2026-06-01", "D"),
        _order("d2", "2026-07-30", "D"),  # day 30: 0
        event("e1", "page_view", "2026-06-20T10:00:00", "E", session_id="s"),  # no order yet
        _order("f1", "2026-07-05", "F"),  # first order after as_of: not a customer yet
        # After as_of, B shows up again without ordering, A gets a refund, C opens a ticket:
        event("b2", "page_view", "2026-07-02T10:00:00", "B", session_id="s2"),
        event(
            "a3", "order_refunded", "2026-07-11T10:00:00", "A", "orders", order_id="a1", amount=10.0
        ),
        event(
            "c3",
            "ticket_opened",
            "2026-07-01T10:00:00",
            "C",
            "support",
            ticket_id="T",
            status="open",
            priority="urgent",
        ),
    ]
    events = events_df(spark, rows)
    params = FeatureParams()
    train = labelled(build_features(events, AS_OF, params), events, AS_OF, HORIZON)
    labels = {r.profile_id: r[LABEL] for r in train.collect()}
    assert labels == {"A": 0, "B": 1, "C": 1, "D": 0}

    # Leakage guard: the training rows' features equal features built from the past alone.
    cutoff = datetime(2026, 7, 1)
    past = events_df(spark, [r for r in rows if r["event_time"] < cutoff])
    expected = build_features(past, AS_OF, params).where("orders_lifetime > 0")
    assert sorted(train.drop(LABEL).collect()) == sorted(expected.collect())


# --- churn: training, scoring, baseline -----------------------------------------------------

FEATURES = ("recency_days", "days_since_last_event", "sessions_30d", "tickets_90d")
SMALL = ChurnParams(
    features=FEATURES,
    horizon_days=30,
    cv_folds=3,
    param_grid={"max_depth": (2, 3), "n_estimators": (30,), "learning_rate": (0.3,)},
)


def _separable(spark, n: int, seed: int):
    """Churn is days_since_last_event > 40 (5 % of labels flipped); recency is unrelated."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        quiet = rng.randint(0, 100)
        churned = int(quiet > 40) ^ int(rng.random() < 0.05)
        rows.append(
            (
                f"p{seed}-{i}",
                rng.randint(0, 200),
                quiet,
                rng.randint(0, 10),
                rng.randint(0, 3),
                ["DE", "FR"][i % 2],
                churned,
            )
        )
    return spark.createDataFrame(
        rows,
        "profile_id string, recency_days int, days_since_last_event int, sessions_30d bigint, "
        f"tickets_90d bigint, country string, {LABEL} int",
    )


@pytest.fixture(scope="module")
def trained(spark):
    train, holdout = _separable(spark, 240, 1), _separable(spark, 200, 2)
    return train_churn(train, SMALL), holdout.toPandas(), holdout


def test_churn_model_learns_the_rule_and_beats_the_recency_baseline(trained):
    model, pdf, _ = trained
    assert model.engine == "xgboost" and model.train_rows == 240
    assert set(model.best_params) == {"max_depth", "n_estimators", "learning_rate"}
    metrics = evaluate(pdf[LABEL], predict(model.booster, pdf))
    baseline = evaluate(pdf[LABEL], baseline_score(pdf))
    assert metrics["auc"] > 0.85 and metrics["auc"] > baseline["auc"] + 0.2
    assert 0 <= metrics["brier"] < 0.25 and 0 <= metrics["ece"] < 1
    assert metrics["pr_auc"] > 0.8


def test_spark_scoring_matches_driver_scoring(trained):
    model, pdf, holdout = trained
    spark_scores = {
        r.profile_id: r.churn_score for r in score_churn(holdout, model.booster).collect()
    }
    local = dict(zip(pdf["profile_id"], predict(model.booster, pdf), strict=True))
    assert spark_scores.keys() == local.keys()
    assert all(math.isclose(spark_scores[k], local[k], abs_tol=1e-6) for k in local)


def test_training_refuses_a_window_without_both_classes(spark):
    one_class = _separable(spark, 30, 3).where(f"{LABEL} = 1")
    with pytest.raises(ValueError, match="too few of a class"):
        train_churn(one_class, SMALL)


# --- promotion gate -------------------------------------------------------------------------

GATE = PromotionParams(
    min_auc_gain=0.01,
    fairness=FairnessParams(
        attribute="country", min_group_size=4, max_score_gap=0.3, max_rate_gap=0.3
    ),
)


def test_fairness_report_compares_groups_of_minimum_size():
    groups = ["DE"] * 4 + ["FR"] * 4 + ["XX"]
    scores = [0.2, 0.8, 0.8, 0.2] + [0.1, 0.1, 0.1, 0.9] + [1.0]
    # DE: mean 0.5, high rate (≥ 0.7) 0.5; FR: mean 0.3, high rate 0.25; XX: 1 row, ignored.
    report = fairness_report(groups, scores, 0.7, GATE.fairness)
    assert report.passed
    assert report.score_gap == pytest.approx(0.2) and report.rate_gap == pytest.approx(0.25)
    strict = FairnessParams("country", 4, max_score_gap=0.1, max_rate_gap=0.2)
    failed = fairness_report(groups, scores, 0.7, strict)
    assert not failed.passed
    assert "mean score gap 0.200 > 0.1" in failed.reason and "rate gap 0.250 > 0.2" in failed.reason
    lonely = fairness_report(["DE"] * 4 + ["XX"], [0.1] * 5, 0.7, GATE.fairness)
    assert lonely.passed and "nothing to compare" in lonely.reason


FAIR = fairness_report(["DE", "FR"] * 4, [0.5] * 8, 0.7, GATE.fairness)
UNFAIR = fairness_report(["DE"] * 4 + ["FR"] * 4, [0.9] * 4 + [0.1] * 4, 0.7, GATE.fairness)


@pytest.mark.parametrize(
    ("new", "baseline", "fairness", "champion", "promote", "why"),
    [
        (0.80, 0.70, FAIR, None, True, "beats the recency-only baseline"),
        (0.705, 0.70, FAIR, None, False, "does not beat the recency-only baseline"),
        (0.80, 0.70, FAIR, 0.78, True, "beats champion v1"),
        (0.785, 0.70, FAIR, 0.78, False, "does not beat champion v1"),  # gain < 0.01
        (0.75, 0.70, FAIR, 0.78, False, "does not beat champion v1"),
        (0.90, 0.70, UNFAIR, 0.78, False, "fails fairness"),
    ],
)
def test_promotion_decision(new, baseline, fairness, champion, promote, why):
    decision = decide(new, baseline, fairness, GATE, champion, "1" if champion else None)
    assert decision.promote is promote
    assert why in decision.reason


def _booster(pdf: pd.DataFrame, columns: list[str], label: np.ndarray):
    from xgboost import XGBClassifier

    model = XGBClassifier(n_estimators=20, max_depth=2, random_state=0, n_jobs=1)
    return model.fit(pdf[columns].astype("float64"), label).get_booster()


def test_champion_alias_moves_only_through_the_gate(tracking, trained):
    """The registry, both ways: promoted, kept (worse), kept (unfair), promoted again."""
    _, pdf, _ = trained
    client = mlflow.MlflowClient()
    name = "test_churn_gate"
    y = pdf[LABEL].to_numpy()
    cols = ["days_since_last_event", "recency_days"]
    rng = np.random.default_rng(0)
    good = _booster(pdf, cols, y)
    weak = _booster(pdf, ["recency_days"], y)
    noisy = _booster(pdf, cols, np.where(rng.random(len(y)) < 0.25, 1 - y, y))
    baseline_auc = evaluate(y, baseline_score(pdf))["auc"]

    def submit(booster, groups):
        scores = predict(booster, pdf)
        current = champion_version(client, name)
        champion_auc = None
        if current:
            champion = mlflow.xgboost.load_model(f"models:/{name}/{current}")
            champion_auc = evaluate(y, predict(champion, pdf))["auc"]
        fairness = fairness_report(groups, scores, 0.7, GATE.fairness)
        decision = decide(
            evaluate(y, scores)["auc"], baseline_auc, fairness, GATE, champion_auc, current
        )
        with mlflow.start_run():
            version = runs.log_model(
                type("M", (), {"booster": booster})(),
                name,  # log_model only reads .booster
            )
            apply_decision(client, name, version, decision)
            runs.log_decision(decision, version)
        return version, decision

    fair_groups = pdf["country"].to_list()  # alternating, unrelated to churn
    v1, d1 = submit(noisy, fair_groups)
    assert d1.promote and champion_version(client, name) == v1  # first model beats baseline
    v2, d2 = submit(weak, fair_groups)
    assert not d2.promote and champion_version(client, name) == v1  # worse than champion
    # Better than the champion, but its scores split along the attribute: groups = churn label.
    v3, d3 = submit(good, np.where(y == 1, "DE", "FR"))
    assert not d3.promote and "fails fairness" in d3.reason
    assert champion_version(client, name) == v1
    v4, d4 = submit(good, fair_groups)
    assert d4.promote and champion_version(client, name) == v4
    tags = client.get_model_version(name, v2).tags
    assert tags["promotion_decision"] == "rejected" and "does not beat" in tags["promotion_reason"]
    assert str(client.get_model_version_by_alias(name, CHAMPION).version) == v4


# --- drift ----------------------------------------------------------------------------------


def test_psi_from_shares_by_definition():
    # (q - p) ln(q / p) summed: 0.3 ln(0.8/0.5) + (-0.3) ln(0.2/0.5)
    expected = 0.3 * math.log(0.8 / 0.5) - 0.3 * math.log(0.2 / 0.5)
    assert psi_from_shares({0: 0.5, 1: 0.5}, {0: 0.8, 1: 0.2}) == pytest.approx(expected)
    assert psi_from_shares({0: 0.5, 1: 0.5}, {0: 0.5, 1: 0.5}) == 0.0


def test_feature_psi_bins_on_the_previous_snapshot_and_counts_nulls(spark):
    previous = spark.createDataFrame([(0.0,)] * 50 + [(10.0,)] * 50, "x double")
    shifted = spark.createDataFrame([(0.0,)] * 80 + [(10.0,)] * 20, "x double")
    with_nulls = spark.createDataFrame([(0.0,)] * 45 + [(10.0,)] * 45 + [(None,)] * 10, "x double")
    got = {
        "same": feature_psi(previous, previous, ["x"], bins=4)["x"],
        "shifted": feature_psi(shifted, previous, ["x"], bins=4)["x"],
        "nulls": feature_psi(with_nulls, previous, ["x"], bins=4)["x"],
    }
    # Cut points {0, 10}: bins "≤ 0" and "(0, 10]"; nulls are their own bin (p floored 1e-4).
    nulls = 2 * (-0.05 * math.log(0.45 / 0.5)) + (0.1 - 1e-4) * math.log(0.1 / 1e-4)
    assert got["same"] == 0.0
    assert got["shifted"] == pytest.approx(0.3 * math.log(1.6) - 0.3 * math.log(0.4), abs=1e-5)
    assert got["nulls"] == pytest.approx(nulls, abs=1e-5)


# --- reasons with every score -------------------------------------------------------------


def _stump():
    """One depth-1 tree, learning rate 1, no regularization, base score 0.5 (margin 0): the
    split on recency_days sends the two y=0 rows left and the two y=1 rows right. Each side:
    G = Σ(p − y) = ±1, H = Σ p(1 − p) = 0.5, so its leaf is −G/H = ∓2 and, with equal covers,
    the expected leaf is 0: recency_days contributes −2 or +2, the bias 0, orders nothing."""
    import xgboost as xgb

    X = pd.DataFrame({"orders_lifetime": [1.0, 1.0, 1.0, 1.0],
                      "recency_days": [10.0, 20.0, 200.0, 300.0]})
    params = {"objective": "binary:logistic", "max_depth": 1, "eta": 1.0, "lambda": 0.0,
              "min_child_weight": 0.0, "base_score": 0.5, "max_delta_step": 0}
    return xgb.train(params, xgb.DMatrix(X, label=[0, 0, 1, 1]), num_boost_round=1), X


def test_reasons_of_a_hand_checked_stump():
    booster, X = _stump()
    contribs = contributions(booster, X)
    assert np.allclose(contribs, [[0, -2, 0], [0, -2, 0], [0, 2, 0], [0, 2, 0]])
    # Additivity: contributions + bias are the margin; the score is its sigmoid.
    assert np.allclose(predict(booster, X), 1 / (1 + np.exp(-contribs.sum(axis=1))))
    labels = {"recency_days": "days since the last order", "orders_lifetime": "orders ever"}
    assert top_reasons(GroupedTreeShap(booster), X, labels) == [
        ["days since the last order: 10 (lowers the churn risk)"],
        ["days since the last order: 20 (lowers the churn risk)"],
        ["days since the last order: 200 (raises the churn risk)"],
        ["days since the last order: 300 (raises the churn risk)"],
    ]


def test_reasons_rank_by_absolute_contribution_then_name():
    names = ["e_visits", "a_spend", "c_csat", "b_orders", "d_tickets"]
    values = np.array([[7.0, 12.5, float("nan"), 3.0, 2.0], [1.0, 1.0, 1.0, 1.0, 1.0]])
    contribs = np.array([[0.3, 0.3, 0.3, -0.9, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0]])
    assert rank_reasons(names, values, contribs, {"c_csat": "average satisfaction"}) == [
        [
            "b_orders: 3 (lowers the churn risk)",
            "a_spend: 12.5 (raises the churn risk)",
            "average satisfaction: unknown (raises the churn risk)",
        ],
        [],
    ]


def test_spark_scores_carry_the_reason_the_model_learned(trained, base_conf):
    """The data's churn rule is days_since_last_event > 40: that is every score's top reason,
    said in conf's words, raising the risk above 40 days and lowering it below."""
    model, pdf, holdout = trained
    labels = ChurnParams.from_conf(base_conf).reason_labels
    rows = score_churn(holdout, model.booster, labels=labels).collect()
    quiet = dict(zip(pdf["profile_id"], pdf["days_since_last_event"], strict=True))
    agree = 0
    for r in rows:
        assert 1 <= len(r.churn_reasons) <= 3
        effect = "raises" if quiet[r.profile_id] > 40 else "lowers"
        top = f"days since any activity: {quiet[r.profile_id]} ({effect} the churn risk)"
        agree += r.churn_reasons[0] == top
    assert agree >= 0.95 * len(rows)
