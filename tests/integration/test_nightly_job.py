"""The nightly end to end on generated data: backfill two dates through the real jobs
(catalog, gate, Delta, Spark ML, XGBoost, MLflow sqlite store), rerun one, and report; then
every notebook of ``notebooks/`` on the same lakehouse.

The lakehouse is built once per module (``lakehouse``): building it is most of this file's
time, and pytest-xdist's ``--dist loadfile`` keeps a module's tests on one worker."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from jobs import nightly, segment_report
from pipelines.catalog import Catalog
from pipelines.config import ROOT_ENV, Conf, overridden, relocated
from pipelines.ingest.flow import fold_params_from_conf
from pipelines.locks import LockHeld, run_lock
from pipelines.nightly import io
from pipelines.nightly.cli import dates, parser
from pipelines.nightly.progress import Progress
from pipelines.profiles.build import build_profiles, events_with_profiles
from pipelines.profiles.store import write_profiles
from tests.nightly_support import nightly_conf, write_inputs
from tests.notebooks_support import cell_text, execute_notebooks, has_image, notebook_paths

D2 = date(2026, 9, 30)
D1 = D2 - timedelta(days=1)
FAST_MODELS = {
    "clustering": {"k_min": 3, "k_max": 3, "sample_rows": 5000},
    "churn": {
        "horizon_days": 30,
        "cv_folds": 3,
        "param_grid": {"max_depth": [3], "learning_rate": [0.2], "n_estimators": [40]},
        "promotion": {
            "fairness": {"min_group_size": 40, "max_score_gap": 0.3, "max_rate_gap": 0.3}
        },
    },
}


def _rows(spark, conf, table, as_of):
    return sorted(io.read_partition(spark, Catalog(conf), table, as_of).collect())


@dataclass(frozen=True)
class Lakehouse:
    conf: Conf
    progress: list[Progress]
    out: str  # what the backfill printed


@pytest.fixture(scope="module")
def lakehouse(spark, base_conf, tmp_path_factory) -> Lakehouse:
    """Generated inputs for 200 customers, then the nightly backfilled over D1..D2."""
    root = tmp_path_factory.mktemp("nightly") / "var"
    conf = nightly_conf(relocated(base_conf, str(root)), FAST_MODELS)
    write_inputs(spark, conf, customers=200, end=D2, days=150)
    backfill = dates(parser(None).parse_args(["--from", str(D1), "--to", str(D2)]))
    printed = StringIO()
    with contextlib.redirect_stdout(printed):
        progress = nightly.run_dates(spark, conf, backfill)
    return Lakehouse(conf, progress, printed.getvalue())


@pytest.mark.slow
def test_nightly_backfill_rerun_and_report(spark, lakehouse, capsys):
    conf, progress, out = lakehouse.conf, lakehouse.progress, lakehouse.out
    for stage in ("events", "features", "models", "segments", "drift"):
        assert f"[nightly {D2}] ✓ {stage}" in out
    assert [list(p.timings) for p in progress] == [
        ["events", "features", "models", "segments", "drift"]
    ] * 2

    catalog = Catalog(conf)
    features = io.read(spark, catalog, "features")
    segments = io.read(spark, catalog, "segments")
    per_date = {r.as_of: r["count"] for r in features.groupBy("as_of").count().collect()}
    assert per_date == {D1: 200, D2: 200}  # every customer has a signup event by then
    assert segments.count() == 400
    assert features.groupBy("profile_id", "as_of").count().where("count > 1").count() == 0
    # The log holds events up to D2 + 10 days; no snapshot saw past its as_of.
    assert features.where(F.col("last_event_date") > F.col("as_of")).count() == 0
    # D2's segments used D1's for hysteresis.
    d2 = segments.where(F.col("as_of") == D2)
    assert d2.where(F.col("previous_primary_segment").isNull()).count() == 0
    assert progress[1].details["segments"]["previous_as_of"] == str(D1)
    assert d2.select("cluster_name").distinct().count() == 3
    assert progress[1].details["models"]["clusters"].endswith("k=3")
    assert progress[1].details["drift"]["previous_as_of"] == str(D1)
    # Every score carries its reasons in conf's words; every segment the condition behind it.
    words = set(conf.get("models.churn.reason_labels").to_dict().values())
    scored = d2.where(F.col("churn_score").isNotNull()).collect()
    assert scored or progress[1].details["segments"]["model_version"] == "none"
    for r in scored:
        assert 1 <= len(r.churn_reasons) <= 3
        assert all(t.rsplit(": ", 1)[0] in words for t in r.churn_reasons)
        assert all(t.endswith(("(raises the churn risk)", "(lowers the churn risk)"))
                   for t in r.churn_reasons)
    for r in d2.collect():
        assert [x.segment for x in r.segment_reasons] == r.rule_segments

    # Rerunning a date replaces its partitions with the same rows.
    before = {t: _rows(spark, conf, t, D2) for t in ("features", "segments")}
    with pytest.raises(LockHeld), run_lock(conf.path("nightly.lock_file"), 60, "other"):
        nightly.run_dates(spark, conf, [D2])
    nightly.run_dates(spark, conf, [D2])
    assert {t: _rows(spark, conf, t, D2) for t in before} == before
    assert io.read(spark, catalog, "segments").count() == 400

    report = segment_report.run(spark, conf, D2)
    printed = capsys.readouterr().out
    assert "Primary segment sizes" in printed and "A few customers" in printed
    assert "MLflow: experiment" in printed and "nightly" in printed
    assert report.exists() and (Path(report).parent / "primary_segments.png").exists()


def _add_profiles(spark, conf: Conf) -> None:
    """The unified profiles the batch ingest would have built from these events (the nightly
    does not need them; notebook 01 shows one), through the real fold and gated MERGE."""
    catalog = Catalog(conf)
    links = io.read(spark, catalog, "identity_links")
    assigned, _unlinked = events_with_profiles(io.events_until(spark, catalog, D2), links)
    now = datetime.combine(D2 + timedelta(days=1), datetime.min.time())
    write_profiles(catalog, build_profiles(assigned, links, now, fold_params_from_conf(conf)), now)


@pytest.mark.slow
def test_notebooks_run_on_the_lakehouse(spark, lakehouse):
    conf = lakehouse.conf
    _add_profiles(spark, conf)
    catalog = Catalog(conf)
    books = execute_notebooks(
        notebook_paths(), {"PROFILAKE_ENV": conf.env, ROOT_ENV: conf.path("paths.root")}
    )
    assert sorted(books) == [
        "01_explore_profiles.ipynb",
        "02_segments_and_rfm.ipynb",
        "03_churn_model.ipynb",
        "04_data_quality.ipynb",
    ]

    # 01: the customer with the most events (synthetic customer c is profile p_<c in hex>).
    per_customer = (
        io.read(spark, catalog, "events")
        .groupBy(F.col("identifiers.customer_id").alias("c"))
        .count()
        .collect()
    )
    top = max(per_customer, key=lambda r: (r["count"], -int(r["c"][2:])))
    busiest = f"p_{int(top['c'][2:]):016x}"
    profile = books["01_explore_profiles.ipynb"]
    assert f"profile {busiest}" in cell_text(profile, "busiest-profile")
    assert busiest in cell_text(profile, "profile-row")
    assert f"profile {busiest}: 1 changes" in cell_text(profile, "history")
    assert "web" in cell_text(profile, "sources")

    # 02: every primary segment of D2, sizes for both dates, the movement between them.
    segments = books["02_segments_and_rfm.ipynb"]
    sizes = cell_text(segments, "segment-sizes")
    d2 = io.read_partition(spark, catalog, "segments", D2)
    for r in d2.select("primary_segment").distinct().collect():
        assert r[0] in sizes
    assert str(D1) in sizes and str(D2) in sizes
    assert f"{D1} → {D2}" in cell_text(segments, "movement")
    assert has_image(segments)

    # 03: the latest run's holdout ROC AUC, as the nightly reported it (the rerun of D2 trains
    # on the same rows with the same seed).
    churn = books["03_churn_model.ipynb"]
    auc = lakehouse.progress[-1].details["models"]["holdout_auc"]
    assert f"holdout ROC AUC {auc:.4f}" in cell_text(churn, "roc-auc")
    assert "challenger" in cell_text(churn, "champion-challenger")
    assert has_image(churn)

    # 04: the quarantine count, the gate's record of every table written, drift per feature.
    quality = books["04_data_quality.ipynb"]
    quarantine = io.read(spark, catalog, "quarantine") if io.exists(
        spark, catalog, "quarantine"
    ) else None
    quarantined = 0 if quarantine is None else quarantine.count()
    assert f"{quarantined:,} quarantined rows" in cell_text(quality, "quarantine")
    validations = cell_text(quality, "validations")
    for table in ("events", "identity_links", "features", "segments", "profiles"):
        assert table in validations
    drift = cell_text(quality, "drift")
    for column in conf.get("models.drift.columns"):
        assert column in drift


@pytest.mark.slow
def test_monitor_on_the_lakehouse(spark, lakehouse):
    """profilake-monitor on the nightly's lakehouse: volume, stale profiles and drift against
    what the tables and the nightly say, a null-rate jump against a planted earlier
    measure, an unreachable broker as a failed check, every alert posted once to a real
    local receiver, and the metrics served on the API's /metrics without a key."""
    import asyncio

    import httpx

    from jobs import monitor as monitor_job
    from pipelines.monitoring import store
    from pipelines.monitoring.params import MonitorParams
    from pipelines.monitoring.records import Metric
    from pipelines.monitoring.run import Context, deliver
    from pipelines.serving.api import create_app
    from tests.webhook_receiver import Receiver

    catalog = Catalog(lakehouse.conf)
    if not io.exists(spark, catalog, "profiles"):
        _add_profiles(spark, lakehouse.conf)
    receiver = Receiver()
    conf = overridden(lakehouse.conf, {
        "monitor.webhook_url": receiver.url, "monitor.kafka_timeout_s": 1,
        "kafka.bootstrap_servers": "127.0.0.1:9",  # nothing listens: the lag check fails
    })
    now = datetime.now(UTC)
    # Oracles, computed with pandas on the tables themselves.
    events = io.read(spark, catalog, "events").where(F.col("event_date") == D2)
    volume = events.select("source").toPandas()["source"].value_counts().to_dict()
    features = io.read_partition(spark, catalog, "features", D2).toPandas()
    nulls = features.isna().mean()
    column = nulls[nulls > 0.1].index[0]  # planted as 0 % before: a jump above 0.1
    profiles = io.read(spark, catalog, "profiles").select("last_seen").toPandas()
    stale = int((profiles["last_seen"] < (now - timedelta(days=60)).replace(tzinfo=None)).sum())
    store.write_metrics(spark, catalog, [Metric("null_rate", 0.0, {"table": "features",
                                                                   "column": column})],
                        "planted", now - timedelta(hours=1))
    try:
        result = monitor_job.run(spark, conf, as_of=D2, now=now)
        again = deliver(Context(spark, conf, catalog, MonitorParams.from_conf(conf), now, D2),
                        result.findings.alerts, "again")
    finally:
        receiver.close()

    m = {(x.name, tuple(sorted(x.labels.items()))): x.value for x in result.findings.metrics}
    for source, n in volume.items():
        assert m[("source_volume_records", (("source", source),))] == n
    assert m[("profiles", ())] == len(profiles) and m[("stale_profiles", ())] == stale
    psi = {k: v for k, v in m.items() if k[0] == "model_drift_psi"}
    assert max(psi.values()) == pytest.approx(lakehouse.progress[1].details["drift"]["max_psi"])
    assert 0 <= m[("nightly_last_success_age_seconds", ())] < 3600
    rules = {(a.rule, a.subject) for a in result.findings.alerts}
    assert ("monitor_check_failed", "check=stream_lag") in rules
    assert ("null_rate_jump", f"column={column},table=features") in rules
    assert ("event_freshness", "") in rules  # the newest event is weeks old
    assert not {r for r, _ in rules} & {"nightly_age", "quarantine_rate"}
    # Every alert posted once, as JSON; still firing a moment later, none is posted again.
    assert [d for _, d in result.deliveries] == ["posted"] * len(result.deliveries)
    assert sorted((b["rule"], b["subject"]) for _, b in receiver.bodies) == sorted(
        (a.rule, a.subject) for a in result.findings.alerts)
    assert {t for t, _ in receiver.bodies} == {"application/json"}
    assert [d for _, d in again] == ["repeat"] * len(again)
    stored = io.read(spark, catalog, "alerts").where(F.col("run_id") == result.run_id)
    assert stored.count() == len(result.findings.alerts) == result.alerts_written

    async def scrape(app, times: int) -> list:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return [await client.get("/metrics") for _ in range(times)]

    first, second = asyncio.run(scrape(create_app(conf, api_keys=["k"]), 2))
    assert first.status_code == 200 and first.headers["content-type"].startswith("text/plain")
    for source, n in volume.items():
        assert f'profilake_source_volume_records{{source="{source}"}} {float(n)!r}\n' \
            in first.text
    assert f"profilake_monitor_last_run_timestamp_seconds {now.timestamp()!r}" in first.text
    assert 'profilake_api_requests_total{route="/metrics",status="200"} 1.0' in second.text
