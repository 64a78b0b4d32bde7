"""The gated write path on real Spark + Delta + Great Expectations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from delta.tables import DeltaTable

from pipelines.catalog import Catalog
from pipelines.gate import GateError, Txn, gated_write
from tests.helpers import with_catalog

SUITE = {
    "name": "accounts",
    "expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "account_id"}},
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "balance", "min_value": 0},
        },
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "tier", "value_set": ["free", "premium"]},
        },
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "account_id"}},
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}},
    ],
}
SCHEMA = "account_id string, balance double, tier string"


@pytest.fixture()
def catalog(conf, tmp_path: Path) -> Catalog:
    suite = tmp_path / "accounts.json"
    suite.write_text(json.dumps(SUITE))
    return Catalog(with_catalog(conf, accounts={"path": "accounts", "suite": str(suite)}))


def _quarantine(spark, catalog):
    return spark.read.format("delta").load(catalog.path("quarantine"))


def test_good_batch_lands_whole(spark, catalog):
    df = spark.createDataFrame([("a1", 10.0, "free"), ("a2", 0.0, "premium")], SCHEMA)
    report = gated_write(catalog, df, "accounts")
    assert (report.rows_written, report.rows_quarantined, report.success) == (2, 0, True)
    rows = spark.read.format("delta").load(catalog.path("accounts")).orderBy("account_id")
    assert [r.account_id for r in rows.collect()] == ["a1", "a2"]


def test_failing_rows_are_quarantined_with_the_expectation_named(spark, catalog):
    df = spark.createDataFrame(
        [("a1", 10.0, "free"), (None, 5.0, "free"), ("a3", -1.0, "gold"), ("a4", 1.0, None)],
        SCHEMA,
    )
    report = gated_write(catalog, df, "accounts", run_id="run-1")
    assert (report.rows_written, report.rows_quarantined) == (2, 2)
    landed = spark.read.format("delta").load(catalog.path("accounts"))
    # A null tier is not judged by the in-set rule (GX semantics: nulls are skipped).
    assert sorted(r.account_id for r in landed.collect()) == ["a1", "a4"]
    q = {json.loads(r.payload).get("account_id"): r for r in _quarantine(spark, catalog).collect()}
    assert set(q) == {None, "a3"}
    assert q[None].failed_expectations == ["expect_column_values_to_not_be_null(column=account_id)"]
    assert sorted(q["a3"].failed_expectations) == [
        "expect_column_values_to_be_between(column=balance, min_value=0)",
        "expect_column_values_to_be_in_set(column=tier, value_set=['free', 'premium'])",
    ]
    assert q["a3"].table_name == "accounts" and q["a3"].run_id == "run-1"
    assert json.loads(q["a3"].payload) == {"account_id": "a3", "balance": -1.0, "tier": "gold"}


def test_table_level_failure_writes_nothing_and_keeps_the_version(spark, catalog):
    first = spark.createDataFrame([("a1", 10.0, "free")], SCHEMA)
    gated_write(catalog, first, "accounts")
    version = DeltaTable.forPath(spark, catalog.path("accounts")).history(1).first().version
    duplicated = spark.createDataFrame([("a2", 1.0, "free"), ("a2", 2.0, "free")], SCHEMA)

    with pytest.raises(GateError) as err:
        gated_write(catalog, duplicated, "accounts", mode="merge", merge_on=["account_id"])

    message = str(err.value)
    assert "accounts" in message and "expect_column_values_to_be_unique" in message
    table = DeltaTable.forPath(spark, catalog.path("accounts"))
    assert table.history(1).first().version == version
    assert [r.account_id for r in table.toDF().collect()] == ["a1"]
    # Nothing is lost: the rejected batch sits in quarantine with the reason.
    rejected = _quarantine(spark, catalog).where("reason LIKE 'batch rejected%'").collect()
    assert len(rejected) == 2
    results = spark.read.format("delta").load(catalog.path("validation_results"))
    assert results.where("success = false AND table_name = 'accounts'").count() == 1


def test_mostly_rejects_the_batch_when_too_many_rows_fail(spark, conf, tmp_path):
    suite = tmp_path / "scores.json"
    suite.write_text(
        json.dumps(
            {
                "name": "scores",
                "expectations": [
                    {
                        "type": "expect_column_values_to_not_be_null",
                        "kwargs": {"column": "score", "mostly": 0.75},
                    }
                ],
            }
        )
    )
    catalog = Catalog(with_catalog(conf, scores={"path": "scores", "suite": str(suite)}))
    half_null = spark.createDataFrame([(1,), (None,), (3,), (None,)], "score int")
    with pytest.raises(GateError, match="mostly=0.75"):
        gated_write(catalog, half_null, "scores")
    one_null = spark.createDataFrame([(1,), (2,), (3,), (None,)], "score int")
    assert gated_write(catalog, one_null, "scores").rows_written == 3


def test_replayed_txn_writes_once(spark, catalog):
    df = spark.createDataFrame([("a1", 10.0, "free"), (None, 1.0, "free")], SCHEMA)
    for _ in range(2):
        gated_write(catalog, df, "accounts", txn=Txn("test-app", 7))
    assert spark.read.format("delta").load(catalog.path("accounts")).count() == 1
    assert _quarantine(spark, catalog).count() == 1


def test_merge_mode_upserts_by_key(spark, catalog):
    gated_write(catalog, spark.createDataFrame([("a1", 1.0, "free")], SCHEMA), "accounts")
    update = spark.createDataFrame([("a1", 9.0, "premium"), ("a2", 2.0, "free")], SCHEMA)
    gated_write(catalog, update, "accounts", mode="merge", merge_on=["account_id"])
    rows = {
        r.account_id: (r.balance, r.tier)
        for r in spark.read.format("delta").load(catalog.path("accounts")).collect()
    }
    assert rows == {"a1": (9.0, "premium"), "a2": (2.0, "free")}


def test_a_table_without_suite_cannot_be_written(spark, conf):
    catalog = Catalog(with_catalog(conf, nosuite={"path": "nosuite"}))
    df = spark.createDataFrame([(1,)], "x int")
    with pytest.raises(ValueError, match="no expectation suite"):
        gated_write(catalog, df, "nosuite")


@pytest.mark.parametrize("local_max_rows", [0, 1000], ids=["spark_engine", "pandas_engine"])
def test_both_validation_engines_give_the_same_verdict(spark, tmp_path, local_max_rows):
    """Small batches are validated by GX's pandas engine, large ones by its Spark engine: the
    expectations decide the same way on either (nulls skipped by column-map rules)."""
    from pipelines.gate.suites import Suite, load_suite
    from pipelines.gate.validate import validate

    (tmp_path / "accounts.json").write_text(json.dumps(SUITE))
    suite: Suite = load_suite(tmp_path / "accounts.json")
    rows = [("a1", 10.0, "free"), ("a1", -1.0, "gold"), (None, None, None), ("a4", 0.0, "premium")]
    outcome = validate(spark.createDataFrame(rows, SCHEMA), suite, rows=len(rows),
                       local_max_rows=local_max_rows)
    verdict = {o.label.split("(")[0] + ":" + str(o.success) for o in outcome.outcomes}
    assert verdict == {
        "expect_column_values_to_not_be_null:False",
        "expect_column_values_to_be_between:False",  # -1.0
        "expect_column_values_to_be_in_set:False",  # gold
        "expect_column_values_to_be_unique:False",  # a1 twice
        "expect_table_row_count_to_be_between:True",
    }
    clean = validate(spark.createDataFrame(rows[3:], SCHEMA), suite, rows=1,
                     local_max_rows=local_max_rows)
    assert clean.success


@pytest.mark.parametrize("local_max_rows", [0, 1000], ids=["spark_engine", "pandas_engine"])
def test_null_checks_count_the_same_on_maps_and_documents(spark, tmp_path, local_max_rows):
    """A column only checked for nulls reaches the pandas engine as a null flag: the counts,
    ``mostly`` and a second check on a column that is also null-checked stay exact."""
    from pipelines.gate.suites import load_suite
    from pipelines.gate.validate import validate

    suite_file = tmp_path / "docs.json"
    suite_file.write_text(json.dumps({"name": "docs", "expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "ids"}},
        {"type": "expect_column_values_to_not_be_null",
         "kwargs": {"column": "document", "mostly": 0.5}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "tier"}},
        {"type": "expect_column_values_to_be_in_set",
         "kwargs": {"column": "tier", "value_set": ["free", "premium"]}},
    ]}))
    rows = [({"email": ["a@x.io"]}, '{"tier": "free"}', "free"),
            (None, '{"tier": "gold"}', "gold"),
            ({}, None, None)]  # an empty map is a value, not a null
    df = spark.createDataFrame(rows, "ids map<string,array<string>>, document string, tier string")
    outcome = validate(df, load_suite(suite_file), rows=len(rows), local_max_rows=local_max_rows)
    got = [(o.label.split("(")[0], o.success, o.unexpected_count) for o in outcome.outcomes]
    assert got == [
        ("expect_column_values_to_not_be_null", False, 1),  # ids: the second row
        ("expect_column_values_to_not_be_null", True, 1),  # document: 2 of 3 >= mostly 0.5
        ("expect_column_values_to_not_be_null", False, 1),  # tier: the third row
        ("expect_column_values_to_be_in_set", False, 1),  # gold; the null is skipped
    ]



def test_deferred_results_are_appended_in_one_commit(spark, catalog):
    from pipelines.gate import deferred_results

    df = spark.createDataFrame([("a1", 10.0, "free")], SCHEMA)
    with deferred_results(catalog, Txn("deferred-test", 0)):
        gated_write(catalog, df, "accounts", run_id="first")
        gated_write(catalog, df, "accounts", mode="merge", merge_on=["account_id"],
                    run_id="second")
        assert not DeltaTable.isDeltaTable(spark, catalog.path("validation_results"))
    results = DeltaTable.forPath(spark, catalog.path("validation_results"))
    assert sorted(r.run_id for r in results.toDF().collect()) == ["first", "second"]
    # The empty create, then one append holding both rows.
    history = results.history().orderBy("version").collect()
    assert [h.operationMetrics.get("numOutputRows") for h in history] == ["0", "2"]


def test_table_version_is_the_latest_commit_of_the_log(spark, tmp_path):
    """What DESCRIBE HISTORY calls the latest version, and None where no table is."""
    from pipelines.gate.delta_io import table_version

    path = str(tmp_path / "versions")
    assert table_version(spark, path) is None
    for expected in range(3):
        spark.range(2).write.format("delta").mode("append").save(path)
        latest = DeltaTable.forPath(spark, path).history(1).first()["version"]
        assert table_version(spark, path) == latest == expected
    assert table_version(spark, str(tmp_path / "missing")) is None
    assert not (tmp_path / "missing").exists(), "asking for a version created a folder"
