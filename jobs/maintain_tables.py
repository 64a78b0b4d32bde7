"""Table maintenance: OPTIMIZE (Z-ORDER by lookup key where a table serves lookups), VACUUM,
checkpoint and a small-file health report for every Delta table of the catalog.

    profilake-maintain [--env local] [--table profiles --table events]
    make maintain [TABLES="profiles events"]
    spark-submit <master, connectors, --py-files: docs/deploy.md> \\
        jobs/maintain_tables.py --env cluster

Scheduled once a day after the nightly (``profilake-nightly``) has finished: it holds the
nightly's lock, so it never overlaps a nightly run, and it runs beside the stream (a commit
that conflicts with the stream's is retried, ``maintenance.retry``, or reported — Delta's
optimistic concurrency never lets a half-done OPTIMIZE be seen). Per table
(``maintenance:`` in conf/base.yaml, docs/operations.md "Table maintenance"): partitions with
at least ``min_small_files`` small files are compacted; VACUUM removes files unreferenced for
longer than the retention (a retention below ``vacuum.min_retention_hours`` is refused unless
``vacuum.allow_below_minimum``); a checkpoint is written when the log grew since the last one;
the health figures are printed and appended to the ``table_health`` table. Tables not created
yet are skipped with a message. Exit 1 when any table failed, 2 on bad arguments or conf.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from pipelines.catalog import Catalog
from pipelines.config import Conf, ConfigError, load_conf
from pipelines.maintenance.health import health_table
from pipelines.maintenance.params import MaintenanceParams, select_tables
from pipelines.maintenance.run import TableResult, maintain, write_health


def run(spark, conf: Conf, tables: Sequence[str] | None = None) -> list[TableResult]:
    """Maintain ``tables`` (default: the whole catalog), print the health table and append it
    to ``table_health``."""
    from pipelines.locks import run_lock

    catalog = Catalog(conf)
    chosen = select_tables(catalog.names(), tables)
    params = MaintenanceParams.from_conf(conf, catalog.names())
    run_id = f"maintain-{uuid.uuid4().hex[:12]}"
    with run_lock(conf.path("nightly.lock_file"), conf.get("nightly.lock_stale_after_s"),
                  "maintain"):
        results = maintain(spark, catalog, params, chosen, run_id=run_id, now=datetime.now(UTC))
        health = [r.health for r in results if r.health]
        write_health(spark, catalog, health)
    print(health_table(health), flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="profilake-maintain", description=__doc__.split("\n")[0])
    p.add_argument("--env", help="config environment (default: PROFILAKE_ENV or local)")
    p.add_argument("--table", action="append", help="maintain only this table (repeatable)")
    args = p.parse_args(argv)
    try:
        conf = load_conf(args.env)
        # Checked before Spark starts: a typo or a bad retention costs no session.
        catalog = Catalog(conf)
        select_tables(catalog.names(), args.table)
        MaintenanceParams.from_conf(conf, catalog.names())
    except ConfigError as exc:
        print(f"profilake-maintain: {exc}", file=sys.stderr)
        return 2
    from pipelines.session import get_spark

    results = run(get_spark(conf, "profilake-maintain"), conf, args.table)
    failed = [r.table for r in results if r.status == "failed"]
    if failed:
        print(f"profilake-maintain: failed for {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
