"""Rebuild the Redis cache from the Delta export after Redis lost it (a restart, a flush).

Redis runs without persistence (pipelines/services/redis_server.py): a restarted Redis is
empty, and until the cache is loaded again every read falls back to the Delta export. The
export is the system of record for what is served, so warming is a full refresh from it: the
same ``cache.full_refresh`` the nightly export runs, fed by delta-rs (no JVM) instead of Spark.

Warming is a no-op while the cache has a current generation (``P:ptr:gen``): run it as
Redis's post-start hook, or every minute from a scheduler, at no cost when nothing was lost.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from pipelines.catalog import Catalog
from pipelines.config import Conf
from pipelines.serving import cache
from pipelines.serving.records import BASE, BASE_STATE, COVERED, COVERED_OFFSETS, DOCUMENT

MERGED = "merged_profile:"  # chatbot_identifiers' redirect rows: merged id -> survivor


def _export_records(table_uri: str) -> Iterator[dict[str, Any]]:
    """The export rows as ``records.export_records`` gives them, read with delta-rs."""
    from deltalake import DeltaTable

    dataset = DeltaTable(table_uri).to_pyarrow_dataset()
    extra = [c for c in (BASE_STATE, COVERED_OFFSETS) if c in dataset.schema.names]
    for batch in dataset.to_batches(columns=[DOCUMENT, *extra]):
        for row in batch.to_pylist():
            record = json.loads(row[DOCUMENT])
            if extra:
                record[BASE] = row.get(BASE_STATE)
                record[COVERED] = row.get(COVERED_OFFSETS)
            yield record


def _merges(table_uri: str) -> list[tuple[str, str]]:
    """(survivor, merged) pairs from chatbot_identifiers' ``merged_profile:`` rows."""
    from deltalake import DeltaTable

    table = DeltaTable(table_uri).to_pyarrow_table(columns=["lookup_key", "profile_id"])
    return [(row["profile_id"], row["lookup_key"][len(MERGED):])
            for row in table.to_pylist() if row["lookup_key"].startswith(MERGED)]


def warm_cache(conf: Conf, force: bool = False) -> dict[str, Any]:
    """Load the Delta export into Redis when the cache has no current generation (or always,
    with ``force``). Returns what was done: ``{"warmed": False}`` or the refresh's counts."""
    from pipelines.services.redis_server import client as redis_client

    client, prefix = redis_client(conf), str(conf.get("cache.prefix"))
    if not force and client.get(f"{prefix}:ptr:gen") is not None:
        return {"warmed": False}
    catalog = Catalog(conf)
    report = cache.full_refresh(
        client, _export_records(catalog.path("chatbot_export")),
        merges=_merges(catalog.path("chatbot_identifiers")), prefix=prefix)
    return {"warmed": True, "generation": report.generation, "written": report.written}
