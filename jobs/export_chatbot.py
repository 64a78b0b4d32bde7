"""Nightly chatbot export: profiles (+ segments) → chatbot_export and chatbot_identifiers
(gated overwrite, laid out for point lookups) → Redis full refresh (atomic generation swap).

    profilake-export-chatbot --env local
    spark-submit <master, connectors, --py-files: docs/deploy.md> \\
        jobs/export_chatbot.py --env cluster

Reads ``profiles``, ``segments`` (when the catalog has it and it exists) and
``identity_merges`` (merged-profile redirects). ``--skip-cache`` writes only the Delta tables.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from pipelines.catalog import Catalog
from pipelines.config import Conf, load_conf


def run_export(spark, conf: Conf, now: datetime, push_cache: bool = True) -> dict[str, Any]:
    """Export every profile, then (``push_cache``) load the result into Redis."""
    from pipelines.serving import cache
    from pipelines.serving.export import build_export
    from pipelines.serving.params import ExportParams
    from pipelines.serving.publish import (
        new_tag,
        read_merges,
        read_probable,
        read_segments,
        reconcile,
        versions,
        write_export,
    )
    from pipelines.serving.records import export_records

    catalog = Catalog(conf)
    params = ExportParams.from_conf(conf)
    # Before the inputs are read: commits after these are other writers' (the stream's).
    seen, tag = versions(catalog, spark), new_tag()
    profiles = spark.read.format("delta").load(catalog.path("profiles"))
    merges = read_merges(catalog, spark)
    export = build_export(profiles, read_segments(catalog, spark), params, exported_at=now,
                          probable=read_probable(catalog, spark))
    reports = write_export(
        catalog,
        export,
        merges=merges,
        rows_per_file=params.rows_per_file,
        row_group_bytes=params.row_group_bytes,
        tag=tag,
    )
    summary: dict[str, Any] = {t: r.rows_written for t, r in reports.items()}
    summary["kept_from_concurrent_writers"] = reconcile(catalog, spark, seen, tag)
    if push_cache:
        written = spark.read.format("delta").load(catalog.path("chatbot_export"))
        pairs = (
            []
            if merges is None
            else [
                tuple(r)
                for r in merges.select("survivor_profile_id", "merged_profile_id").collect()
            ]
        )
        refresh = cache.full_refresh(conf, export_records(written), merges=pairs)
        summary["cache"] = {
            "generation": refresh.generation,
            "written": refresh.written,
            "skipped_older": refresh.skipped_older,
            "keys_deleted": refresh.keys_deleted,
        }
    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="profilake-export-chatbot", description=__doc__.split("\n")[0])
    p.add_argument("--env", help="config environment (default: PROFILAKE_ENV or local)")
    p.add_argument("--skip-cache", action="store_true", help="write the Delta tables only")
    args = p.parse_args(argv)
    conf = load_conf(args.env)
    from pipelines.session import get_spark

    spark = get_spark(conf, "profilake-export-chatbot")
    summary = run_export(spark, conf, datetime.now(UTC), push_cache=not args.skip_cache)
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
