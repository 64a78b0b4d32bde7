"""Monitoring settings from conf (``monitor:`` in conf/base.yaml): one block per rule, each with
its threshold(s) and the severity of the alert it raises."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.config import Conf, ConfigError

SEVERITIES = ("info", "warning", "critical")
CHECKS = ("stream_lag", "freshness", "source_volume", "quarantine_rate", "null_rate",
          "stale_profiles", "nightly", "model_drift")


@dataclass(frozen=True)
class MonitorParams:
    stream_lag_max_records: int
    event_max_age_s: float
    commit_max_age_s: float
    volume_baseline_days: int
    volume_min_baseline_days: int
    volume_min_ratio: float
    volume_max_ratio: float
    quarantine_window_h: float
    quarantine_max_rate: float
    quarantine_min_rows: int
    null_rate_tables: tuple[str, ...]
    null_rate_max_increase: float
    stale_days: int
    stale_max_share: float
    nightly_max_age_h: float
    psi_alert: float
    severity: dict[str, str]  # rule -> severity
    webhook_url: str
    webhook_timeout_s: float
    webhook_attempts: int
    webhook_backoff_s: float
    webhook_repeat_after_h: float
    kafka_timeout_s: float

    @classmethod
    def from_conf(cls, conf: Conf) -> MonitorParams:
        """Read ``monitor.*`` (and the keys it shares: ``features.stale_days``,
        ``models.drift.psi_alert``); an unknown severity fails here, naming the rule."""
        m = conf.get("monitor")
        r = m.get("rules")
        severity = {}
        for rule, block in r.items():
            level = str(block.get("severity"))
            if level not in SEVERITIES:
                raise ConfigError(f"monitor.rules.{rule}.severity: '{level}' is not one of "
                                  f"{', '.join(SEVERITIES)}")
            severity[rule] = level
        vol = r.get("source_volume")
        if int(vol.get("min_baseline_days")) > int(vol.get("baseline_days")):
            raise ConfigError("monitor.rules.source_volume: min_baseline_days exceeds "
                              "baseline_days")
        return cls(
            stream_lag_max_records=int(r.get("stream_lag.max_records")),
            event_max_age_s=float(r.get("event_freshness.max_age_s")),
            commit_max_age_s=float(r.get("commit_freshness.max_age_s")),
            volume_baseline_days=int(vol.get("baseline_days")),
            volume_min_baseline_days=int(vol.get("min_baseline_days")),
            volume_min_ratio=float(vol.get("min_ratio")),
            volume_max_ratio=float(vol.get("max_ratio")),
            quarantine_window_h=float(r.get("quarantine_rate.window_hours")),
            quarantine_max_rate=float(r.get("quarantine_rate.max_rate")),
            quarantine_min_rows=int(r.get("quarantine_rate.min_rows")),
            null_rate_tables=tuple(str(t) for t in r.get("null_rate_jump.tables")),
            null_rate_max_increase=float(r.get("null_rate_jump.max_increase")),
            stale_days=int(conf.get("features.stale_days")),
            stale_max_share=float(r.get("stale_profiles.max_share")),
            nightly_max_age_h=float(r.get("nightly_age.max_age_h")),
            psi_alert=float(conf.get("models.drift.psi_alert")),
            severity=severity,
            webhook_url=str(m.get("webhook_url") or ""),
            webhook_timeout_s=float(m.get("webhook_timeout_s")),
            webhook_attempts=max(1, int(m.get("webhook_attempts"))),
            webhook_backoff_s=float(m.get("webhook_backoff_s")),
            webhook_repeat_after_h=float(m.get("webhook_repeat_after_h")),
            kafka_timeout_s=float(m.get("kafka_timeout_s")),
        )


def select_checks(wanted: list[str] | None) -> tuple[str, ...]:
    """The checks to run, in their fixed order; an unknown name fails, listing the known."""
    if not wanted:
        return CHECKS
    unknown = [w for w in wanted if w not in CHECKS]
    if unknown:
        raise ConfigError(f"unknown check(s) {', '.join(unknown)} (known: {', '.join(CHECKS)})")
    return tuple(c for c in CHECKS if c in wanted)
