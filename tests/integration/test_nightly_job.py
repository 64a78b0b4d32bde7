"""The nightly end to end on generated data: backfill two dates through the real jobs
(catalog, gate, Delta, Spark ML, XGBoost, MLflow sqlite store), rerun one, and report."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from jobs import nightly, segment_report
from pipelines.catalog import Catalog
from pipelines.nightly import io
from pipelines.nightly.cli import dates, parser
from pipelines.nightly.lock import LockHeld, run_lock
from tests.nightly_support import nightly_conf, write_inputs

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


@pytest.mark.slow
def test_nightly_backfill_rerun_and_report(spark, conf, capsys):
    conf = nightly_conf(conf, FAST_MODELS)
    write_inputs(spark, conf, customers=200, end=D2, days=150)
    backfill = dates(parser(None).parse_args(["--from", str(D1), "--to", str(D2)]))

    progress = nightly.run_dates(spark, conf, backfill)
    out = capsys.readouterr().out
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
