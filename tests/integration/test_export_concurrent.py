"""The nightly export and the stream's chatbot sync writing the export tables at once.

The export job reads ``profiles`` and overwrites both export tables at its end; a stream
micro-batch that synced in between (a newer profile version, a merge, a new profile) must
survive that overwrite (pipelines/serving/reconcile.py). In ``make test`` the interleaving is
made explicit: the stream's real ``sync_touched`` commits after the export read its inputs and
before it wrote. The long run (``make test-long``) leaves it to chance: the stream job runs as
its own process while the export job runs, until a run met the interleaving.
"""

from __future__ import annotations

import shutil
import signal
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from pipelines.catalog import Catalog
from pipelines.config import PROJECT_DIR, conf_dir, overridden, relocated
from pipelines.identity.schemas import MERGES
from pipelines.services import redis_server
from pipelines.serving import cache
from pipelines.serving.export import build_export
from pipelines.serving.params import ExportParams
from pipelines.serving.publish import (
    EXPORT_TABLE,
    IDENTIFIERS_TABLE,
    new_tag,
    reconcile,
    sync_touched,
    versions,
    write_export,
)
from tests.serving_data import ANNA, AS_OF, BOB, CARLA, DAN, dan, people, profile, profiles_df, ts
from tests.stream_process import StreamProcess, end_offsets, reaches

EVE = "p_eeeeeeeeeeeeeee5"  # first seen by the stream while the export ran
QUERY = "concurrent_export"
EXPORT_RUNS = 8


def _rows(spark, catalog, table, key):
    df = spark.read.format("delta").load(catalog.path(table))
    return {r[key]: r for r in df.collect()}


@pytest.mark.slow
def test_export_overwrite_keeps_what_the_stream_synced_meanwhile(spark, redis_conf, tmp_path):
    prefix = f"t{uuid.uuid4().hex[:8]}"
    conf = relocated(redis_conf, str(tmp_path / "var"))
    catalog = Catalog(conf)
    params = ExportParams.from_conf(conf)
    before = [*people(), dan()]
    # A first export with nobody else writing: nothing to keep from others.
    seen, tag = versions(catalog, spark), new_tag()
    assert seen == {EXPORT_TABLE: None, IDENTIFIERS_TABLE: None}
    write_export(catalog, build_export(profiles_df(spark, before), None, params, AS_OF), tag=tag)
    nothing = {"rewritten": 0, "deleted": 0}
    assert reconcile(catalog, spark, seen, tag) == {EXPORT_TABLE: nothing,
                                                    IDENTIFIERS_TABLE: nothing}

    # The export job starts: versions first, then its inputs (the same profiles).
    seen, tag = versions(catalog, spark), new_tag()
    ours = build_export(profiles_df(spark, before), None, params, AS_OF)

    # Meanwhile a micro-batch: Dan merged into Bob (version 8, Dan's ids now Bob's), Eve new.
    bob = next(p for p in before if p["profile_id"] == BOB)
    survivor = {**bob, "version": 8, "intent": "browsing",
                "identifiers": {**bob["identifiers"], "device_id": ["dev-dan"]}}
    eve = profile(EVE, identifiers={"customer_id": ["C0000005"]}, first_name="Eve", version=1)
    merges = spark.createDataFrame(
        [(BOB, DAN, "device_id", "dev-dan", "e-merge", ts("2026-09-01T01:00:00"), None)], MERGES)
    client = redis_server.client(conf)
    try:
        sync_touched(catalog, client, profiles_df(spark, [survivor, eve]), params=params,
                     merges=merges, prefix=prefix)
    finally:
        cache.drop_prefix(client, prefix)

    write_export(catalog, ours, tag=tag)
    # The hazard itself: the overwrite alone puts the export back in time.
    stale = _rows(spark, catalog, EXPORT_TABLE, "profile_id")
    assert stale[BOB].profile_version == 7 and DAN in stale and EVE not in stale

    kept = reconcile(catalog, spark, seen, tag)

    export = _rows(spark, catalog, EXPORT_TABLE, "profile_id")
    assert set(export) == {ANNA, BOB, CARLA, EVE}, "Dan was merged away; Eve is new"
    assert (export[BOB].profile_version, export[BOB].intent) == (8, "browsing")
    assert export[ANNA].profile_version == 3  # untouched by the stream: the export's own row
    idents = _rows(spark, catalog, IDENTIFIERS_TABLE, "lookup_key")
    assert idents["device_id:dev-dan"].profile_id == BOB
    assert idents["customer_id:C0000005"].profile_id == EVE
    assert idents["merged_profile:" + DAN].profile_id == BOB
    assert idents["customer_id:C0000001"].profile_id == ANNA
    # Bob and Eve written again, Dan deleted again; the identifiers: Bob's three keys (his two
    # and dev-dan), Eve's, and Dan's redirect.
    assert kept[EXPORT_TABLE] == {"rewritten": 2, "deleted": 1}
    assert kept[IDENTIFIERS_TABLE] == {"rewritten": 5, "deleted": 0}


def _conf_dir_with(tmp_path: Path, values: dict[str, dict[str, object]]) -> Path:
    """A copy of the project's conf/ whose test overlay also sets ``values`` (section → keys),
    beside a link to expectations/: for a job started as its own process."""
    project = tmp_path / "project"
    shutil.copytree(conf_dir(), project / "conf")
    (project / "expectations").symlink_to(PROJECT_DIR / "expectations")
    overlay = project / "conf" / "test.yaml"
    data = yaml.safe_load(overlay.read_text())
    for section, keys in values.items():
        data.setdefault(section, {}).update(keys)
    overlay.write_text(yaml.safe_dump(data))
    return project / "conf"


@pytest.mark.long
def test_export_jobs_beside_a_running_stream_leave_every_profile_current(
    spark, base_conf, kafka_broker, redis_conf, tmp_path
):
    """Issue 13's nightly-and-stream case with real engines: the stream job (its own process,
    chatbot sync on) folds a producer's events while the export job runs until one run kept
    rows the stream synced during it (at most ``EXPORT_RUNS``); then
    each profile of the system of record is in the export at its current version, and each of
    its lookup ids points to it."""
    from jobs.export_chatbot import run_export
    from pipelines.events.producer import synthetic_population
    from pipelines.services.kafka import create_topic
    from tests.broker_faults import ChunkedProducer

    prefix = f"c{uuid.uuid4().hex[:8]}"
    sync = {"streaming": {"chatbot_sync": True}, "cache": {"prefix": prefix}}
    root = tmp_path / "var"
    root.mkdir()
    conf = overridden(relocated(base_conf, str(root)), {
        "streaming.chatbot_sync": True, "cache.prefix": prefix})
    topic = create_topic(kafka_broker, f"test.concurrent.{uuid.uuid4().hex[:8]}", partitions=2)
    producer = ChunkedProducer(conf, topic, synthetic_population(30, 5), rate=10, seconds=8,
                               seed=5)
    producer.start()
    job = StreamProcess.start(root, topic, root / "stream.log", query=QUERY,
                              trigger="1 second", conf_dir=_conf_dir_with(tmp_path, sync))
    kept = []
    try:
        job.wait_for_start(900, batches=2)
        # Until a run met the hazard (a profile the stream changed after the run read it and
        # synced before the run wrote), at most EXPORT_RUNS runs.
        while len(kept) < EXPORT_RUNS and not any(_kept_any(k) for k in kept):
            summary = run_export(spark, conf, datetime.now(UTC).replace(tzinfo=None))
            kept.append(summary["kept_from_concurrent_writers"])
        producer.finish()
        end = end_offsets(str(conf.get("kafka.bootstrap_servers")), topic)
        _wait_until_read(job, root, end)
        job.proc.send_signal(signal.SIGTERM)
        assert job.wait_exit(600) == 0, f"the stream did not stop cleanly; see {root}/stream.log"
    finally:
        producer.finish()
        if job.proc.poll() is None:
            job.kill()
        client = redis_server.client(conf)
        cache.drop_prefix(client, prefix)
    print("kept from the stream per export run:", kept)
    assert any(_kept_any(k) for k in kept), (
        f"in {len(kept)} export runs the stream never synced a profile between a run's read "
        "and its write: the interleaving under test did not happen")
    catalog = Catalog(conf)
    profiles = _rows(spark, catalog, "profiles", "profile_id")
    export = _rows(spark, catalog, EXPORT_TABLE, "profile_id")
    assert len(profiles) >= 10
    assert {p: r.profile_version for p, r in export.items()} == {
        p: r.version for p, r in profiles.items()}
    idents = _rows(spark, catalog, IDENTIFIERS_TABLE, "lookup_key")
    unhashed = {"customer_id", "device_id", "anonymous_id", "social_handle"}
    for pid, row in profiles.items():
        for id_type, values in (row.identifiers or {}).items():
            for value in values if id_type in unhashed else []:
                assert idents[f"{id_type}:{value}"].profile_id == pid, (id_type, value)


def _kept_any(kept: dict[str, dict[str, int]]) -> bool:
    return any(n for counts in kept.values() for n in counts.values())


def _wait_until_read(job, root: Path, end: dict[str, int], timeout_s: float = 900) -> None:
    """Until a micro-batch that reads up to ``end`` has finished."""
    deadline = time.monotonic() + timeout_s
    while not any(reaches(root, QUERY, b["batch_id"], end) for b in list(job.batches)):
        assert job.proc.poll() is None, f"the stream died; see {root}/stream.log"
        assert time.monotonic() < deadline, f"the stream did not catch up; see {root}/stream.log"
        time.sleep(1)
