"""Batch ingestion job: landing files → bronze → silver events → identity → unified profiles.

Locally:   profilake-ingest [--env local] [--sources crm orders ...]
Cluster:   spark-submit <master, connectors, --py-files: docs/deploy.md> \\
               jobs/ingest_batch.py --env cluster

Each file is ingested once; rerunning processes only new files and never duplicates rows.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from pipelines.config import load_conf, relocated
from pipelines.ingest.flow import IngestReport, run_ingest
from pipelines.ingest.sources import SOURCES
from pipelines.session import get_spark
from pipelines.storage_errors import storage_failure


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default=None, help="config environment (default: local)")
    parser.add_argument("--sources", nargs="*", default=list(SOURCES), choices=list(SOURCES))
    parser.add_argument("--skip-profiles", action="store_true", help="stop after identity")
    parser.add_argument("--root", help="override paths.root (and every path under it)")
    args = parser.parse_args(argv)
    conf = load_conf(args.env)
    if args.root:
        conf = relocated(conf, args.root)
    spark = get_spark(conf, "profilake-ingest-batch")
    now = datetime.now(UTC).replace(tzinfo=None)
    try:
        report = run_ingest(spark, conf, args.sources, now, with_profiles=not args.skip_profiles)
    except Exception as exc:
        reason = storage_failure(str(exc))
        if reason is None:
            raise
        # Rerunning is safe: ingested files are skipped, the rest is redone.
        print(f"ingest failed: {reason}", file=sys.stderr)
        return 1
    for line in summary_lines(report):
        print(line)
    return 0


def summary_lines(report: IngestReport) -> list[str]:
    """The run's counts, then every quarantine reason of this run with its rows."""
    lines = [
        f"files: {report.files}  source records: {report.records}",
        f"new events: {report.events_new:,}  rejected: {report.rejected:,}  "
        f"merges: {report.merges:,}  profiles: {report.profiles:,}  "
        f"probable links: {report.probable_links:,} "
        f"(profiles with probable activity: {report.probable_profiles:,})",
        f"events without a profile: {report.unassigned_events:,} "
        f"(newly quarantined: {report.unassigned_quarantined:,})",
        f"quarantined by this run: {sum(n for _t, _r, n in report.quarantined):,} rows",
    ]
    lines += [f"  {rows:>9,}  {table}: {reason}" for table, reason, rows in report.quarantined]
    if report.new_columns:  # to promote or ignore: docs/sources.md, "Schema evolution"
        new = "; ".join(f"{s}: {', '.join(c)}" for s, c in report.new_columns.items())
        lines.append(f"new source columns, kept in bronze: {new}")
    return lines


if __name__ == "__main__":
    sys.exit(main())
