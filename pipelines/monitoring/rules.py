"""The monitoring rules: measured figures in, metrics and alerts out. Pure functions on plain
values (the measuring is in ``lake``, ``kafka_lag`` and ``runs``), so each rule is tested on
hand-built inputs. Thresholds and severities come from ``MonitorParams`` (conf ``monitor:``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta

from pipelines.monitoring.params import MonitorParams
from pipelines.monitoring.records import Alert, Findings, Metric


def partition_lag(
    end: Mapping[str, int], start: Mapping[str, int], consumed: Mapping[str, int]
) -> dict[str, int]:
    """Records per ``topic:partition`` a lane has not consumed yet: the partition's end offset
    minus the lane's next offset there. A partition the lane has no offset for lags by every
    record still retained (end − log start); an offset below the log start (records deleted
    by retention or an erasure) counts from the log start."""
    out = {}
    for pk, last in end.items():
        first = start.get(pk, 0)
        position = max(consumed.get(pk, first), first)
        out[pk] = max(0, last - position)
    return out


def stream_lag(lags: Mapping[str, Mapping[str, int]], p: MonitorParams) -> Findings:
    """Per lane (``delta_lane``, ``hot_lane``): records behind the topics' ends, total and per
    partition. Alert ``stream_lag`` when a lane's total exceeds
    ``rules.stream_lag.max_records``."""
    out = Findings()
    for lane, per_partition in sorted(lags.items()):
        total = sum(per_partition.values())
        out.metrics.append(Metric("stream_lag_records", total, {"lane": lane}))
        out.metrics += [Metric("stream_partition_lag_records", n, {"lane": lane, "partition": pk})
                        for pk, n in sorted(per_partition.items())]
        if total > p.stream_lag_max_records:
            out.alerts.append(Alert(
                "stream_lag", p.severity["stream_lag"], total, p.stream_lag_max_records,
                f"{lane} is {total:,} records behind the topic ends "
                f"(more than {p.stream_lag_max_records:,})", {"lane": lane}))
    return out


def freshness(
    now: datetime, newest_event: datetime | None, last_commit: datetime | None,
    p: MonitorParams,
) -> Findings:
    """Age of the newest event applied to any profile (its ``last_seen``) and of the profiles
    table's last Delta commit. Alerts ``event_freshness`` / ``commit_freshness`` when older
    than their ``max_age_s``. A missing profiles table measures nothing."""
    out = Findings()
    for rule, metric, at, limit, what in (
        ("event_freshness", "newest_event_age_seconds", newest_event, p.event_max_age_s,
         "the newest event applied to a profile"),
        ("commit_freshness", "profiles_commit_age_seconds", last_commit, p.commit_max_age_s,
         "the profiles table's last commit"),
    ):
        if at is None:
            continue
        age = (now - at).total_seconds()
        out.metrics.append(Metric(metric, age))
        if age > limit:
            out.alerts.append(Alert(rule, p.severity[rule], age, limit,
                                    f"{what} is {_duration(age)} old (limit {_duration(limit)})"))
    return out


def source_volume(counts: Mapping[tuple[str, date], int], day: date, p: MonitorParams) -> Findings:
    """Events per source on ``day`` against its trailing baseline: the mean daily count over
    the ``baseline_days`` days before, counting only days on which any source had events
    (days before the lake held data are not zeros). With fewer than ``min_baseline_days``
    such days, or a baseline of 0 (a new source), no ratio is computed. Alert
    ``source_volume`` when volume / baseline is below ``min_ratio`` or above ``max_ratio``."""
    out = Findings()
    window = [day - timedelta(days=i) for i in range(1, p.volume_baseline_days + 1)]
    days_with_data = [d for d in window if any(n for (_, dd), n in counts.items() if dd == d)]
    for source in sorted({s for s, _ in counts}):
        labels = {"source": source}
        volume = counts.get((source, day), 0)
        out.metrics.append(Metric("source_volume_records", volume, labels))
        if len(days_with_data) < p.volume_min_baseline_days:
            continue
        baseline = sum(counts.get((source, d), 0) for d in days_with_data) / len(days_with_data)
        out.metrics.append(Metric("source_volume_baseline_records", baseline, labels))
        if baseline == 0:
            continue
        ratio = volume / baseline
        out.metrics.append(Metric("source_volume_ratio", ratio, labels))
        if ratio < p.volume_min_ratio or ratio > p.volume_max_ratio:
            bound = p.volume_min_ratio if ratio < p.volume_min_ratio else p.volume_max_ratio
            out.alerts.append(Alert(
                "source_volume", p.severity["source_volume"], ratio, bound,
                f"{source}: {volume:,} events on {day} against a baseline of {baseline:,.1f} "
                f"a day over {len(days_with_data)} days (ratio {ratio:.2f}, allowed "
                f"{p.volume_min_ratio:g}–{p.volume_max_ratio:g})", labels))
    return out


def quarantine_rate(
    quarantined: Mapping[tuple[str, str], int], written: Mapping[str, int], p: MonitorParams
) -> Findings:
    """Per table over the window: quarantined rows (also per reason class) and the rate
    quarantined / (quarantined + written). Alert ``quarantine_rate`` when the rate exceeds
    ``max_rate`` on at least ``min_rows`` rows."""
    out = Findings()
    per_table: dict[str, int] = {}
    for (table, reason), n in sorted(quarantined.items()):
        per_table[table] = per_table.get(table, 0) + n
        out.metrics.append(Metric("quarantined_records", n, {"table": table, "reason": reason}))
    for table in sorted(set(per_table) | set(written)):
        bad, total = per_table.get(table, 0), per_table.get(table, 0) + written.get(table, 0)
        if not total:
            continue
        rate = bad / total
        out.metrics.append(Metric("quarantine_rate", rate, {"table": table}))
        if total >= p.quarantine_min_rows and rate > p.quarantine_max_rate:
            out.alerts.append(Alert(
                "quarantine_rate", p.severity["quarantine_rate"], rate, p.quarantine_max_rate,
                f"{table}: {bad:,} of {total:,} rows quarantined in the last "
                f"{p.quarantine_window_h:g} h ({rate:.1%}, limit {p.quarantine_max_rate:.1%})",
                {"table": table}))
    return out


def null_rate_jumps(
    current: Mapping[tuple[str, str], float], previous: Mapping[tuple[str, str], float],
    p: MonitorParams,
) -> Findings:
    """Null share per (table, column), and alert ``null_rate_jump`` when it rose by more than
    ``max_increase`` (absolute) since the previous measurement of that column."""
    out = Findings()
    for (table, column), rate in sorted(current.items()):
        labels = {"table": table, "column": column}
        out.metrics.append(Metric("null_rate", rate, labels))
        before = previous.get((table, column))
        if before is not None and rate - before > p.null_rate_max_increase:
            out.alerts.append(Alert(
                "null_rate_jump", p.severity["null_rate_jump"], rate - before,
                p.null_rate_max_increase,
                f"{table}.{column}: null share rose from {before:.1%} to {rate:.1%}", labels))
    return out


def stale_profiles(profiles: int, stale: int, p: MonitorParams) -> Findings:
    """Profiles whose newest event is more than ``features.stale_days`` days old. Alert
    ``stale_profiles`` when their share exceeds ``max_share``."""
    out = Findings([Metric("profiles", profiles), Metric("stale_profiles", stale)])
    if profiles:
        share = stale / profiles
        out.metrics.append(Metric("stale_profiles_share", share))
        if share > p.stale_max_share:
            out.alerts.append(Alert(
                "stale_profiles", p.severity["stale_profiles"], share, p.stale_max_share,
                f"{stale:,} of {profiles:,} profiles ({share:.1%}) had no event for more than "
                f"{p.stale_days} days (limit {p.stale_max_share:.1%})"))
    return out


def nightly_age(
    now: datetime, last_success: datetime | None, as_of: str | None, p: MonitorParams
) -> Findings:
    """When the last nightly run finished successfully. Alert ``nightly_age`` when that is
    more than ``max_age_h`` hours ago, or when no nightly ever succeeded."""
    out = Findings()
    limit_s = p.nightly_max_age_h * 3600
    if last_success is None:
        out.alerts.append(Alert("nightly_age", p.severity["nightly_age"], None, limit_s,
                                "no successful nightly run on record"))
        return out
    age = (now - last_success).total_seconds()
    out.metrics += [Metric("nightly_last_success_timestamp_seconds", last_success.timestamp()),
                    Metric("nightly_last_success_age_seconds", age)]
    if age > limit_s:
        out.alerts.append(Alert(
            "nightly_age", p.severity["nightly_age"], age, limit_s,
            f"the last successful nightly (as_of {as_of}) finished {_duration(age)} ago "
            f"(limit {_duration(limit_s)})"))
    return out


def model_drift(psi: Mapping[str, float], as_of: str | None, p: MonitorParams) -> Findings:
    """The PSI per feature the nightly's drift stage logged (``profilake-monitor-drift``).
    Alert ``model_drift`` per feature above ``models.drift.psi_alert``, the threshold the
    drift stage itself flags with."""
    out = Findings()
    for column, value in sorted(psi.items()):
        labels = {"column": column}
        out.metrics.append(Metric("model_drift_psi", value, labels))
        if value > p.psi_alert:
            out.alerts.append(Alert(
                "model_drift", p.severity["model_drift"], value, p.psi_alert,
                f"feature {column} drifted: PSI {value:.3f} on {as_of} against the previous "
                f"snapshot (limit {p.psi_alert:g})", labels))
    return out


def should_post(
    alert: Alert, last_posted: Mapping[tuple[str, str], datetime], now: datetime,
    repeat_after_h: float,
) -> bool:
    """An alert is posted unless the same (rule, subject) was posted successfully less than
    ``repeat_after_h`` hours ago: a condition that persists is re-sent at that interval, not
    every run; a post that failed is tried again on the next run."""
    at = last_posted.get((alert.rule, alert.subject))
    return at is None or (now - at).total_seconds() >= repeat_after_h * 3600


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
