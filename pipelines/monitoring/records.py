"""What the monitor produces: metrics (a named value with labels) and alerts (a rule that
fired), and the ``metrics`` / ``alerts`` table schemas they are stored with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

METRICS_SCHEMA = (
    "run_id string, measured_at timestamp, measured_date date, metric string, "
    "labels map<string,string>, value double"
)
ALERTS_SCHEMA = (
    "run_id string, raised_at timestamp, rule string, severity string, subject string, "
    "value double, threshold double, message string, delivery string"
)


@dataclass(frozen=True)
class Metric:
    """One measured value. ``name`` is a Prometheus-style snake_case name (served on
    ``/metrics`` as ``profilake_<name>``); labels keep their cardinality bounded (lanes,
    sources, tables, columns, reason classes — never an identifier)."""

    name: str
    value: float
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Alert:
    rule: str
    severity: str
    value: float | None
    threshold: float | None
    message: str
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def subject(self) -> str:
        """What the alert is about, ``k=v`` pairs sorted (``lane=hot_lane``); empty for a
        rule about the whole system. (rule, subject) identifies an alert across runs."""
        return ",".join(f"{k}={v}" for k, v in sorted(self.labels.items()))

    def payload(self, run_id: str, raised_at: str) -> dict:
        """The JSON body posted to the webhook."""
        return {"source": "profilake", "run_id": run_id, "raised_at": raised_at,
                "rule": self.rule, "severity": self.severity, "subject": self.subject,
                "labels": dict(self.labels), "value": self.value, "threshold": self.threshold,
                "message": self.message}


@dataclass
class Findings:
    """Metrics and alerts gathered by the checks of one run."""

    metrics: list[Metric] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)

    def extend(self, other: Findings) -> None:
        self.metrics.extend(other.metrics)
        self.alerts.extend(other.alerts)
