"""One resolution, two engines: Spark's (resolve.py + assign.py) and the driver's for small
batches (resolve_local.py through small_batch.py) give the same link upserts, merges and
record → profile assignments for random batches: shared identifiers, weak devices, denied and
blank values, never-link rules, and over three runs merges of profiles of different ages.
The event log's lookup per identifier column (assign.with_linked_profile) places every record
where the per-identifier-row rule (assign_profiles) does, against the whole links table."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime

from pipelines.identity import apply_links, assign_profiles, empty_links, resolve
from pipelines.identity.assign import with_linked_profile
from pipelines.identity.schemas import LINKS, MERGES
from pipelines.identity.small_batch import frame_of, resolve_small, rows_of
from pipelines.schemas.events import IDENTIFIER_TYPES
from tests import identity_cases

OBS = ("record_id string, event_time timestamp, identifiers struct<"
       + ", ".join(f"{t}: string" for t in IDENTIFIER_TYPES) + ">")
RUNS = [datetime(2026, 9, d, tzinfo=UTC) for d in (1, 2, 3)]
CASES = 300


def _by(rows: list[dict], *key: str) -> dict[tuple, dict]:
    """Rows by their key (each key once: a duplicate would be a bug of its own)."""
    keyed = {tuple(r[k] for k in key): r for r in rows}
    assert len(keyed) == len(rows), "duplicate keys"
    return keyed


def _same(got: dict[tuple, dict], expected: dict[tuple, dict], context: str) -> None:
    assert got.keys() == expected.keys(), (context, got.keys() ^ expected.keys())
    for k, row in expected.items():
        assert got[k] == row, (context, k, got[k], row)


def test_driver_and_spark_resolve_alike(spark, seed=7):
    rng = random.Random(seed)
    params = replace(identity_cases.params(rng, CASES), local_max_records=4 * CASES)
    links = empty_links(spark)
    merges_seen = 0
    for round_, now in enumerate(RUNS):
        records = identity_cases.batch(rng, CASES, round_)
        observations = spark.createDataFrame(
            [(r, t, tuple(ids[k] for k in IDENTIFIER_TYPES)) for r, t, ids in records], OBS)

        expected = resolve(observations, links, params, now=now)
        expected_links, expected_merges = rows_of(expected.links, LINKS), rows_of(
            expected.merges, MERGES)
        expected_assigned = {r["record_id"]: r["profile_id"] for r in assign_profiles(
            observations, expected.links, params).collect()}

        small = resolve_small(observations, links, params, now=now)
        assert small is not None
        _, got, assigned = small
        context = f"seed {seed}, run {round_}"
        _same(_by(rows_of(got.links, LINKS), "id_type", "id_value"),
              _by(expected_links, "id_type", "id_value"), context)
        _same(_by(rows_of(got.merges, MERGES), "merged_profile_id"),
              _by(expected_merges, "merged_profile_id"), context)
        assert {r["record_id"]: r["profile_id"] for r in assigned.collect()} == \
            expected_assigned, context

        merges_seen += len(expected_merges)
        # The next run starts from the links both engines agree on, without lineage.
        links = frame_of(spark, rows_of(apply_links(links, expected.links), LINKS), LINKS)
        by_rows = {r["record_id"]: r["profile_id"] for r in assign_profiles(
            observations, links, params).collect()}
        by_columns = with_linked_profile(observations, links, params)
        assert by_columns.columns == [*observations.columns, "profile_id"]
        assert {r["record_id"]: r["profile_id"] for r in by_columns.collect()} == by_rows, \
            context
        assert sum(p is not None for p in by_rows.values()) > len(by_rows) / 2, context
    # The batches must exercise what the test is about.
    final = rows_of(links, LINKS)
    assert merges_seen > 0
    assert sum(r["shared"] for r in final) > 0
    assert sum(r["id_type"] == "device_id" and len(r["anonymous_ids"] or ()) > 1
               for r in final) > 0
