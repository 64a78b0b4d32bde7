"""One monitor run: measure each selected check, apply its rules, then post the new alerts,
append them with how each was delivered, and append the metrics.

A check that cannot measure (Kafka down, a table unreadable) does not stop the others: it
raises a ``monitor_check_failed`` alert naming the check and the error instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from pyspark.sql import SparkSession

from pipelines.catalog import Catalog
from pipelines.config import Conf
from pipelines.gate.delta_io import read_if_exists
from pipelines.monitoring import lake, rules, store
from pipelines.monitoring.params import MonitorParams
from pipelines.monitoring.records import Alert, Findings
from pipelines.monitoring.webhook import post_json

log = logging.getLogger(__name__)
LANES = ("delta_lane", "hot_lane")


@dataclass(frozen=True)
class Context:
    spark: SparkSession
    conf: Conf
    catalog: Catalog
    params: MonitorParams
    now: datetime  # aware, UTC
    as_of: date  # the day the volume check looks at
    memo: dict = field(default_factory=dict)  # figures two checks share, measured once


@dataclass
class MonitorResult:
    run_id: str
    findings: Findings
    deliveries: list[tuple[Alert, str]] = field(default_factory=list)
    metrics_written: int = 0
    alerts_written: int = 0


def _table(ctx: Context, name: str):
    return read_if_exists(ctx.spark, ctx.catalog.path(name))


def _profile_figures(ctx: Context) -> dict | None:
    if "profiles" not in ctx.memo:
        profiles = _table(ctx, "profiles")
        ctx.memo["profiles"] = None if profiles is None else lake.profile_figures(
            profiles, ctx.now, ctx.params.stale_days)
    return ctx.memo["profiles"]


def check_stream_lag(ctx: Context) -> Findings:
    from pipelines.monitoring import kafka_lag
    from pipelines.stream.offsets import last_committed_end_offsets
    from pipelines.stream.settings import StreamSettings

    settings = StreamSettings.from_conf(ctx.conf)
    timeout = ctx.params.kafka_timeout_s
    start, end = kafka_lag.topic_offsets(settings.bootstrap_servers, settings.topics, timeout)
    consumed = {
        "delta_lane": last_committed_end_offsets(ctx.spark, settings.checkpoint),
        "hot_lane": kafka_lag.group_offsets(settings.bootstrap_servers,
                                            str(ctx.conf.get("hot.group_id")), timeout),
    }
    # A lane with no offsets at all has never run here (not deployed): nothing to measure.
    lags = {lane: rules.partition_lag(end, start, offsets)
            for lane, offsets in consumed.items() if offsets}
    return rules.stream_lag(lags, ctx.params)


def check_freshness(ctx: Context) -> Findings:
    from delta.tables import DeltaTable

    figures = _profile_figures(ctx)
    if figures is None:
        return Findings()
    last = (DeltaTable.forPath(ctx.spark, ctx.catalog.path("profiles")).history(1)
            .select("timestamp").first()[0])
    return rules.freshness(ctx.now, lake.as_utc(figures["newest"]), lake.as_utc(last),
                           ctx.params)


def check_source_volume(ctx: Context) -> Findings:
    events = _table(ctx, "events")
    if events is None:
        return Findings()
    first = ctx.as_of - timedelta(days=ctx.params.volume_baseline_days)
    return rules.source_volume(lake.daily_source_counts(events, first, ctx.as_of), ctx.as_of,
                               ctx.params)


def check_quarantine_rate(ctx: Context) -> Findings:
    since = ctx.now - timedelta(hours=ctx.params.quarantine_window_h)
    quarantine, results = _table(ctx, "quarantine"), _table(ctx, "validation_results")
    quarantined = lake.quarantine_counts(quarantine, since) if quarantine is not None else {}
    written = lake.written_counts(results, since) if results is not None else {}
    return rules.quarantine_rate(quarantined, written, ctx.params)


def check_null_rate(ctx: Context) -> Findings:
    current = {}
    for name in ctx.params.null_rate_tables:
        table = _table(ctx, name)
        if table is not None:
            rates = lake.null_rates(lake.latest_snapshot(table))
            current.update({(name, column): rate for column, rate in rates.items()})
    previous = store.previous_values(ctx.spark, ctx.catalog, "null_rate", ("table", "column"))
    return rules.null_rate_jumps(current, previous, ctx.params)


def check_stale_profiles(ctx: Context) -> Findings:
    figures = _profile_figures(ctx)
    if figures is None:
        return Findings()
    return rules.stale_profiles(figures["profiles"], figures["stale"], ctx.params)


def check_nightly(ctx: Context) -> Findings:
    from pipelines.monitoring.mlflow_runs import last_nightly

    return rules.nightly_age(ctx.now, *last_nightly(ctx.conf), ctx.params)


def check_model_drift(ctx: Context) -> Findings:
    from pipelines.monitoring.mlflow_runs import latest_drift

    psi, as_of = latest_drift(ctx.conf)
    return rules.model_drift(psi, as_of, ctx.params)


CHECK_FUNCTIONS: dict[str, Callable[[Context], Findings]] = {
    "stream_lag": check_stream_lag,
    "freshness": check_freshness,
    "source_volume": check_source_volume,
    "quarantine_rate": check_quarantine_rate,
    "null_rate": check_null_rate,
    "stale_profiles": check_stale_profiles,
    "nightly": check_nightly,
    "model_drift": check_model_drift,
}


def measure(ctx: Context, checks: Sequence[str], say: Callable[[str], None] = print) -> Findings:
    """Every check in ``checks``; a failing one becomes a ``monitor_check_failed`` alert."""
    out = Findings()
    for name in checks:
        try:
            found = CHECK_FUNCTIONS[name](ctx)
        except Exception as exc:  # one check's failure must not hide the others' findings
            # One line: a broker or table that is down is an operational state, not a bug
            # (the traceback is kept at debug level for when it is one).
            log.warning("monitor check %s failed: %s: %s", name, type(exc).__name__, exc)
            log.debug("monitor check %s failed", name, exc_info=True)
            first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
            found = Findings(alerts=[Alert(
                "monitor_check_failed", ctx.params.severity["monitor_check_failed"], None, None,
                f"check {name} could not measure: {type(exc).__name__}: {first}",
                {"check": name})])
        say(f"[monitor] {name}: {len(found.metrics)} metrics, {len(found.alerts)} alerts")
        out.extend(found)
    return out


def deliver(
    ctx: Context, alerts: Sequence[Alert], run_id: str,
    post: Callable[..., str] = post_json,
) -> list[tuple[Alert, str]]:
    """How each alert was delivered: ``posted`` / ``failed: …`` when it was posted,
    ``repeat`` when the same alert was posted less than ``webhook_repeat_after_h`` ago,
    ``no webhook`` when ``monitor.webhook_url`` is empty."""
    p = ctx.params
    if not p.webhook_url:
        return [(a, "no webhook") for a in alerts]
    posted = store.last_posted(ctx.spark, ctx.catalog)
    out = []
    for a in alerts:
        if not rules.should_post(a, posted, ctx.now, p.webhook_repeat_after_h):
            out.append((a, "repeat"))
            continue
        out.append((a, post(p.webhook_url, a.payload(run_id, ctx.now.isoformat()),
                            timeout_s=p.webhook_timeout_s, attempts=p.webhook_attempts,
                            backoff_s=p.webhook_backoff_s)))
    return out


def monitor(
    ctx: Context, checks: Sequence[str], run_id: str, say: Callable[[str], None] = print
) -> MonitorResult:
    """Measure, deliver and store the alerts, then store the metrics. Alerts go first: a
    metrics write the gate refuses must not keep them from being posted."""
    findings = measure(ctx, checks, say)
    result = MonitorResult(run_id, findings)
    result.deliveries = deliver(ctx, findings.alerts, run_id)
    result.alerts_written = store.write_alerts(ctx.spark, ctx.catalog, result.deliveries,
                                               run_id, ctx.now)
    result.metrics_written = store.write_metrics(ctx.spark, ctx.catalog, findings.metrics,
                                                 run_id, ctx.now)
    return result
