"""The maintenance job on a tiny lakehouse of many small appends through the project's write path:
compaction, unchanged data, VACUUM vs time travel, the retention guard, the health table
(checked against our own listing of the files), and a second run that compacts nothing."""

from __future__ import annotations

import os
import statistics
from datetime import datetime
from pathlib import Path

import pytest

from jobs.maintain_tables import run
from pipelines.catalog import Catalog
from pipelines.config import ConfigError, overridden, relocated
from pipelines.gate import gated_write
from pipelines.gate.delta_io import write_delta
from pipelines.identity.schemas import LINKS
from pipelines.maintenance.params import RetentionError

APPENDS = 8  # enough small files to compact; more prove nothing more and cost a commit each
# Appends 0 and 4 go through the gate with a row its suite rejects (2 quarantine files); the
# others through the gate's own Delta append, without GX (a gated append costs seconds).
BAD_EVERY = 4
T0 = datetime(2026, 9, 1, 12)
MAINTAINED = ("identity_links", "validation_results", "quarantine")


def _link(i: int, id_type: str = "email") -> tuple:
    return (id_type, f"user{i:02d}@example.org", f"p_{i:016x}", T0, T0, T0, T0, False,
            None, None, f"p_{i:016x}")  # fmt: skip


def _parquet_files(table_path: str) -> list[int]:
    """Sizes of the data files on disk, listed without Delta (the log folder left out)."""
    sizes = []
    for folder, dirs, names in os.walk(table_path):
        dirs[:] = [d for d in dirs if d != "_delta_log"]
        sizes += [os.path.getsize(Path(folder, n)) for n in names if n.endswith(".parquet")]
    return sizes


def _rows(spark, path: str, version: int | None = None) -> list[tuple]:
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return sorted(tuple(r) for r in reader.load(path).drop("run_id").collect())


def _history(spark, path: str) -> list[tuple[int, str]]:
    return [(r["version"], r["operation"]) for r in
            spark.sql(f"DESCRIBE HISTORY delta.`{path}`").collect()]  # fmt: skip


@pytest.fixture(scope="module")
def lake(spark, base_conf, tmp_path_factory):
    """APPENDS one-row appends to identity_links (some with a rejected extra row), then one
    run of the job with a 0-hour retention, explicitly allowed below the minimum."""
    conf = overridden(
        relocated(base_conf, str(tmp_path_factory.mktemp("maint") / "var")),
        {"maintenance.vacuum.retention_hours": 0, "maintenance.vacuum.allow_below_minimum": True},
    )
    catalog = Catalog(conf)
    for i in range(APPENDS):
        if i % BAD_EVERY == 0:
            rows = [_link(i), _link(i, id_type="fax")]
            gated_write(catalog, spark.createDataFrame(rows, LINKS), "identity_links")
        else:
            df = spark.createDataFrame([_link(i)], LINKS)
            write_delta(df, catalog.table("identity_links"), "append")
    paths = {t: catalog.path(t) for t in MAINTAINED}
    before = {t: _rows(spark, p) for t, p in paths.items()}
    # Live files from Delta's own DESCRIBE DETAIL: the gate's tables hold unreferenced files too.
    files_before = {
        t: spark.sql(f"DESCRIBE DETAIL delta.`{p}`").first()["numFiles"] for t, p in paths.items()
    }
    last_append = _history(spark, paths["identity_links"])[0][0]
    results = run(spark, conf)
    return {
        "conf": conf, "catalog": catalog, "paths": paths, "before": before,
        "files_before": files_before, "last_append": last_append,
        "results": {r.table: r for r in results},
    }  # fmt: skip


def test_small_appends_are_compacted_to_one_file_per_partition(lake):
    assert lake["files_before"]["identity_links"] == APPENDS
    gated = len(range(0, APPENDS, BAD_EVERY))
    assert lake["files_before"]["quarantine"] == gated
    assert lake["files_before"]["validation_results"] >= gated
    for table, path in lake["paths"].items():
        assert len(_parquet_files(path)) == 1, table
    assert "zorder(id_type, id_value)" in lake["results"]["identity_links"].message
    assert "bin-pack" in lake["results"]["validation_results"].message


def test_data_is_unchanged(spark, lake):
    for table, path in lake["paths"].items():
        assert _rows(spark, path) == lake["before"][table], table
    assert len(lake["before"]["identity_links"]) == APPENDS


def test_tables_not_created_yet_are_skipped_with_a_message(lake):
    skipped = lake["results"]["profiles"]
    assert skipped.status == "skipped" and "no Delta table" in skipped.message
    assert {r.status for r in lake["results"].values()} == {"ok", "skipped"}


def test_time_travel_before_the_retention_fails_and_after_it_works(spark, lake):
    path = lake["paths"]["identity_links"]
    optimized = max(v for v, op in _history(spark, path) if op == "OPTIMIZE")
    assert optimized > lake["last_append"]
    with pytest.raises(Exception, match=r"(?i)not found|does not exist|FileNotFound"):
        _rows(spark, path, version=lake["last_append"])
    assert _rows(spark, path, version=optimized) == lake["before"]["identity_links"]


def test_health_table_matches_our_own_listing(spark, lake):
    health = spark.read.format("delta").load(lake["catalog"].path("table_health")).collect()
    assert sorted(r["table_name"] for r in health) == sorted(MAINTAINED)
    assert len({r["run_id"] for r in health}) == 1
    for row in health:
        sizes = _parquet_files(lake["paths"][row["table_name"]])
        small = sum(s < 16 * 1024 * 1024 for s in sizes)
        assert row["files_before"] == lake["files_before"][row["table_name"]]
        assert (row["files"], row["total_bytes"]) == (len(sizes), sum(sizes))
        assert row["avg_file_bytes"] == pytest.approx(sum(sizes) / len(sizes))
        assert row["median_file_bytes"] == pytest.approx(statistics.median(sizes))
        assert row["small_file_share"] == pytest.approx(small / len(sizes))
        assert row["versions_since_checkpoint"] == 0  # the job checkpointed the grown log
        assert row["last_optimize_version"] is not None


def test_retention_below_the_minimum_is_refused_before_any_work(spark, lake):
    conf = overridden(lake["conf"], {"maintenance.vacuum.allow_below_minimum": False})
    path = lake["paths"]["identity_links"]
    version = _history(spark, path)[0][0]
    with pytest.raises(RetentionError, match=r"'quarantine' is 0 h, below the minimum of 168 h"):
        run(spark, conf)
    with pytest.raises(ConfigError, match="unknown table.*nope"):
        run(spark, lake["conf"], ["nope"])
    assert _history(spark, path)[0][0] == version


def test_second_run_compacts_nothing(spark, lake):
    path = lake["paths"]["identity_links"]
    version = _history(spark, path)[0][0]
    results = {r.table: r for r in run(spark, lake["conf"], list(MAINTAINED))}
    assert all("optimize" not in results[t].message for t in MAINTAINED)
    assert [op for v, op in _history(spark, path) if v > version and op == "OPTIMIZE"] == []
    assert all(results[t].health.files_before == results[t].health.files == 1 for t in MAINTAINED)
    assert _rows(spark, path) == lake["before"]["identity_links"]
