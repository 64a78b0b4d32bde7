"""The batch path on real Spark + Delta: the shipped example files, reruns, corrupt files,
and identity quality against the generator's ground truth."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import pytest

from pipelines.ingest.flow import run_ingest

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
FILES = {
    "crm": "crm.csv",
    "orders": "orders.csv",
    "tickets": "tickets.jsonl",
    "web": "web.jsonl",
    "social": "social.json",
}
NOW = datetime(2026, 9, 1)


def _land(conf, source: str, src: Path, name: str) -> None:
    folder = Path(conf.path("paths.landing")) / source
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, folder / name)


def _table(spark, conf, name: str):
    from pipelines.catalog import Catalog

    return spark.read.format("delta").load(Catalog(conf).path(name))


def test_examples_ingest_once_and_rerun_adds_nothing(spark, conf):
    for source, name in FILES.items():
        _land(conf, source, EXAMPLES / name, name)
    first = run_ingest(spark, conf, list(FILES), NOW, echo=lambda _m: None)
    assert set(first.files.values()) == {1}
    assert all(first.bronze_rows[s] > 0 for s in FILES)
    events = _table(spark, conf, "events")
    assert {r.source for r in events.select("source").distinct().collect()} == {
        "crm",
        "orders",
        "support",
        "web",
        "social",
    }
    total = events.count()
    assert total == first.events_new > 0
    reasons = {r.reason for r in _table(spark, conf, "quarantine").collect()}
    assert reasons and all(":" in reason for reason in reasons)  # "<source>: <why>"

    second = run_ingest(spark, conf, list(FILES), NOW, echo=lambda _m: None)
    assert set(second.files.values()) == {0} and second.events_new == 0
    assert _table(spark, conf, "events").count() == total
    for source in ("crm", "web"):
        bronze = _table(
            spark, conf, f"bronze_{'crm_customers' if source == 'crm' else 'web_events'}"
        )
        assert bronze.count() == first.bronze_rows[source]


def test_a_corrupt_file_does_not_stop_the_others(spark, conf, tmp_path):
    garbage = tmp_path / "broken.jsonl"
    garbage.write_bytes(b"\x00\x01garbage{{{\n" * 3)
    _land(conf, "web", garbage, "broken.jsonl")
    _land(conf, "web", EXAMPLES / "web.jsonl", "good.jsonl")
    broken_doc = tmp_path / "broken.json"
    broken_doc.write_text('{"data": [{"id": "1", "platform": "twit')
    _land(conf, "social", broken_doc, "broken.json")
    _land(conf, "social", EXAMPLES / "social.json", "good.json")
    report = run_ingest(spark, conf, ["web", "social"], NOW, echo=lambda _m: None)
    assert report.files == {"web": 2, "social": 2}
    events = _table(spark, conf, "events")
    assert events.where("origin LIKE '%good.jsonl#%'").count() > 0
    assert events.where("origin LIKE '%good.json#%'").count() > 0
    quarantined = _table(spark, conf, "quarantine").where("payload LIKE '%broken.json%'")
    assert {r.reason for r in quarantined.collect()} >= {
        "web: unparseable JSON",
        "social: unparseable JSON document",
    }


def test_unified_profiles_join_identifiers_from_different_sources(spark, conf):
    for source, name in FILES.items():
        _land(conf, source, EXAMPLES / name, name)
    run_ingest(spark, conf, list(FILES), NOW, echo=lambda _m: None)
    profiles = _table(spark, conf, "profiles")
    joined = profiles.where("size(sources) >= 2").collect()
    assert joined, "some person appears in two sources in the examples"
    for p in joined:
        assert p.version >= 1 and p.profile_id.startswith("p_")
    assert profiles.select("profile_id").distinct().count() == profiles.count()


@pytest.mark.slow
def test_identity_quality_on_generated_ground_truth(spark, conf, tmp_path):
    """Pairwise same-person precision ≥ 0.995 and recall ≥ 0.99 (issue 3). Recall is judged
    on the pairs the data can link (pipelines/identity/evaluation.py); raw recall is printed.
    The generated data has family tablets with one login and reset cookies on own devices,
    the two cases the device rules in docs/identity.md trade against each other."""
    from jobs.generate_data import main as generate
    from pipelines.identity.evaluation import score_events

    landing, truth = conf.path("paths.landing"), tmp_path / "truth"
    assert (
        generate(
            [
                "--customers",
                "600",
                "--days",
                "30",
                "--seed",
                "5",
                "--out",
                landing,
                "--truth",
                str(truth),
                "--quiet",
            ]
        )
        == 0
    )
    run_ingest(spark, conf, list(FILES), NOW, echo=lambda _m: None)
    scores = score_events(
        _table(spark, conf, "events"),
        _table(spark, conf, "identity_links"),
        spark.read.parquet(str(truth / "record_person")),
        spark.read.parquet(str(truth / "identifier_person.parquet")),
    )
    print(f"identity quality: {scores}")
    assert scores["records"] > 3000
    assert scores["normalization_match"] >= 0.99
    assert scores["precision"] >= 0.995
    assert scores["recall_linkable"] >= 0.99
