"""Monitoring and alerts over the lanes, the tables and the nightly.

Stream lag and freshness, per-source volume, quarantine rate, null-rate jumps, stale
profiles, the last successful nightly and model drift:

    profilake-monitor [--env local] [--as-of 2026-10-01] [--check stream_lag --check freshness]
    make monitor [CHECKS="stream_lag freshness"]
    PYSPARK_PYTHON=.venv/bin/python spark-submit \\
        --packages io.delta:delta-spark_4.2_2.13:4.4.0 \\
        --conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension \\
        --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog \\
        --py-files profilake.zip jobs/monitor.py --env cluster

Rules and thresholds: ``monitor:`` in conf/base.yaml (docs/operations.md "Monitoring and
alerts"). Metrics are appended to the ``metrics`` table (served by the read API's
``/metrics``), alerts to ``alerts`` and, when ``monitor.webhook_url`` is set, posted as JSON.
``--as-of`` is the day the volume check compares with its baseline (default: yesterday, UTC).
Exit 0 when every check measured and every post went through (alerts or not: they are
delivered by the tables and the webhook), 1 when a check could not measure or a post failed
(the monitoring itself is degraded), 2 on bad arguments or conf.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from datetime import UTC, date, datetime, timedelta

from pipelines.catalog import Catalog
from pipelines.config import Conf, ConfigError, load_conf
from pipelines.monitoring.params import CHECKS, MonitorParams, select_checks
from pipelines.monitoring.run import Context, MonitorResult, monitor


def run(spark, conf: Conf, checks=CHECKS, as_of: date | None = None,
        now: datetime | None = None) -> MonitorResult:
    """One monitor run; prints each alert with its delivery."""
    now = now or datetime.now(UTC)
    ctx = Context(spark, conf, Catalog(conf), MonitorParams.from_conf(conf), now,
                  as_of or now.date() - timedelta(days=1))
    result = monitor(ctx, checks, run_id=f"monitor-{uuid.uuid4().hex[:12]}")
    for alert, delivery in result.deliveries:
        about = f" {alert.subject}" if alert.subject else ""
        print(f"[monitor] ALERT {alert.severity} {alert.rule}{about}: {alert.message} "
              f"({delivery})", flush=True)
    print(f"[monitor] {result.run_id}: {result.metrics_written} metrics, "
          f"{result.alerts_written} alerts", flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="profilake-monitor", description=__doc__.split("\n")[0])
    p.add_argument("--env", help="config environment (default: PROFILAKE_ENV or local)")
    p.add_argument("--as-of", type=date.fromisoformat, help="day for the volume check")
    p.add_argument("--check", action="append", help=f"run only this check (repeatable): "
                   f"{', '.join(CHECKS)}")
    args = p.parse_args(argv)
    try:
        conf = load_conf(args.env)
        checks = select_checks(args.check)
        MonitorParams.from_conf(conf)  # a bad rule fails before Spark starts
    except ConfigError as exc:
        print(f"profilake-monitor: {exc}", file=sys.stderr)
        return 2
    from pipelines.session import get_spark

    result = run(get_spark(conf, "profilake-monitor"), conf, checks, args.as_of)
    degraded = any(a.rule == "monitor_check_failed" or d.startswith("failed")
                   for a, d in result.deliveries)
    return 1 if degraded else 0


if __name__ == "__main__":
    sys.exit(main())
