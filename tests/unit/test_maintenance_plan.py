"""Pure maintenance logic: which partitions to compact, the partition predicate, checkpoints,
health figures, table selection and the retention guard (no Spark)."""

from __future__ import annotations

from datetime import datetime

import pytest

from pipelines.config import ConfigError, load_conf, overridden
from pipelines.maintenance.health import table_health
from pipelines.maintenance.params import (
    MaintenanceParams,
    RetentionError,
    TableRules,
    check_retention,
    select_tables,
)
from pipelines.maintenance.plan import (
    DataFile,
    needs_checkpoint,
    partition_predicate,
    plan_optimize,
)

RULES = TableRules("events", ("event_id",), 168.0, target_file_bytes=1000, small_file_bytes=100)


def _f(size: int, day: str | None = "2026-09-01") -> DataFile:
    return DataFile(f"f{size}-{day}", size, (("event_date", day),))


def test_only_partitions_with_two_small_files_are_compacted():
    files = [_f(10), _f(20), _f(500, "2026-09-02"), _f(30, "2026-09-02"), _f(40, None),
             _f(50, None)]  # fmt: skip
    plan = plan_optimize(files, RULES, min_small_files=2)
    assert plan.partitions == ((("event_date", "2026-09-01"),), (("event_date", None),))
    assert plan.zorder_by == ("event_id",) and plan.files_in_scope == 4
    assert not plan_optimize([_f(10), _f(500)], RULES, min_small_files=2).needed


def test_partition_predicate_quotes_values_and_nulls():
    parts = [(("d", "it's"), ("t", None)), (("d", "a\\b"), ("t", "x"))]
    assert partition_predicate(parts) == (
        "(`d` = 'it\\'s' AND `t` IS NULL) OR (`d` = 'a\\\\b' AND `t` = 'x')"
    )
    assert partition_predicate([()]) is None


def test_checkpoint_only_when_the_log_grew():
    assert needs_checkpoint(5, None) and needs_checkpoint(12, 10)
    assert not needs_checkpoint(10, 10)


def test_health_figures():
    files = [DataFile("a", 10), DataFile("b", 30), DataFile("c", 200), DataFile("d", 400)]
    h = table_health(run_id="r", measured_at=datetime(2026, 9, 1), table="t", version=14,
                     files=files, files_before=9, small_file_bytes=100, checkpoint_version=10,
                     history=[(14, "WRITE"), (12, "OPTIMIZE"), (3, "OPTIMIZE")], actions="",
                     status="ok")  # fmt: skip
    assert (h.files, h.total_bytes, h.avg_file_bytes, h.median_file_bytes) == (4, 640, 160, 115)
    assert (h.small_files, h.small_file_share) == (2, 0.5)
    assert (h.versions_since_checkpoint, h.last_optimize_version, h.versions_since_optimize) == (
        4, 12, 2)


def test_unknown_table_and_bad_retention_are_refused():
    with pytest.raises(ConfigError, match="unknown table.*nope"):
        select_tables(["a", "b"], ["b", "nope"])
    assert select_tables(["a", "b", "c"], ["c", "a"]) == ["a", "c"]
    with pytest.raises(RetentionError, match="below the minimum"):
        check_retention("t", 24, 168, allow_below=False)
    with pytest.raises(RetentionError, match="negative"):
        check_retention("t", -1, 168, allow_below=True)
    check_retention("t", 0, 168, allow_below=True)


def test_conf_overrides_for_unknown_tables_or_keys_fail():
    conf = load_conf("test")
    tables = list(conf.get("catalog").data)
    assert MaintenanceParams.from_conf(conf, tables).rules("profiles").retention_hours == 720
    bad = overridden(conf, {"maintenance.tables": {"nope": {"zorder_by": ["x"]}}})
    with pytest.raises(ConfigError, match="maintenance.tables.nope"):
        MaintenanceParams.from_conf(bad, tables)
    bad = overridden(conf, {"maintenance.tables": {"profiles": {"zorder": ["x"]}}})
    with pytest.raises(ConfigError, match="unknown key"):
        MaintenanceParams.from_conf(bad, tables)
