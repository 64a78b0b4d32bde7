"""The monitor's metrics in Prometheus text format (exposition format 0.0.4) for the read
API's ``/metrics``: the newest value of each series from the ``metrics`` table, read with
delta-rs (no JVM), plus ``profilake_monitor_last_run_timestamp_seconds`` so a monitor that
stopped running is itself visible."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import Any

PREFIX = "profilake_"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Sample = tuple[str, Mapping[str, str], float]  # (full metric name, labels, value)


def escape(value: str) -> str:
    """A label value as the text format wants it: backslash, double quote and newline
    escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def render(samples: Iterable[Sample], types: Mapping[str, str] | None = None) -> str:
    """Text exposition of ``samples``, grouped by metric name with one ``# TYPE`` line each
    (``types``: name → counter | histogram | gauge, default gauge)."""
    grouped: dict[str, list[Sample]] = {}
    for s in samples:
        family = s[0]
        for suffix in ("_bucket", "_sum", "_count"):
            # A histogram's series share one family and one TYPE line.
            if types and family.endswith(suffix) and family[: -len(suffix)] in types:
                family = family[: -len(suffix)]
        grouped.setdefault(family, []).append(s)
    lines = []
    for family in sorted(grouped):
        lines.append(f"# TYPE {family} {(types or {}).get(family, 'gauge')}")
        for name, labels, value in grouped[family]:
            text = ",".join(f'{k}="{escape(str(v))}"' for k, v in sorted(labels.items()))
            lines.append(f"{name}{{{text}}} {number(value)}" if text else
                         f"{name} {number(value)}")
    return "\n".join(lines) + "\n" if lines else ""


def newest_samples(rows: Iterable[Mapping[str, Any]]) -> tuple[list[Sample], float | None]:
    """The newest value per (metric, labels) among ``rows`` of the metrics table, as samples
    named ``profilake_<metric>``; and the newest ``measured_at`` (epoch seconds)."""
    newest: dict[tuple, tuple[Any, Sample]] = {}
    last = None
    for r in rows:
        labels = dict(r["labels"] or {})
        key = (r["metric"], tuple(sorted(labels.items())))
        at = r["measured_at"]
        if key not in newest or at > newest[key][0]:
            newest[key] = (at, (PREFIX + r["metric"], labels, float(r["value"])))
        last = at if last is None or at > last else last
    samples = sorted((s for _, s in newest.values()), key=lambda s: (s[0], sorted(s[1].items())))
    return samples, (_epoch(last) if last is not None else None)


def _epoch(at) -> float:
    from datetime import UTC

    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


class LatestMetrics:
    """The newest monitor metrics of the ``metrics`` table at ``table_uri``: partitions
    within ``lookback_days`` of the newest one are read again when the table's version
    changes (checked at most every ``refresh_s``). Thread-safe."""

    def __init__(self, table_uri: str, lookback_days: int, refresh_s: float):
        self.table_uri = table_uri
        self.lookback_days = max(1, lookback_days)
        self.refresh_s = refresh_s
        self._lock = threading.Lock()
        self._table: Any = None
        self._version: int | None = None
        self._samples: list[Sample] = []
        self._checked = 0.0

    def samples(self) -> list[Sample]:
        """The samples; empty while the table does not exist (the monitor never ran)."""
        now = time.monotonic()
        with self._lock:
            if self._table is None or now - self._checked >= self.refresh_s:
                self._checked = now
                self._reload()
            return list(self._samples)

    def _reload(self) -> None:
        from deltalake import DeltaTable

        try:
            if self._table is None:
                self._table = DeltaTable(self.table_uri)
            else:
                self._table.update_incremental()
        except Exception:  # TableNotFoundError and I/O errors alike: nothing to serve yet
            self._table, self._version, self._samples = None, None, []
            return
        if self._table.version() == self._version:
            return
        days = sorted({p["measured_date"] for p in self._table.partitions()})
        if days:
            newest = date.fromisoformat(days[-1])
            wanted = [d for d in days
                      if date.fromisoformat(d) > newest - timedelta(days=self.lookback_days)]
            data = self._table.to_pyarrow_dataset(
                partitions=[("measured_date", "in", wanted)]
            ).to_table(columns=["metric", "labels", "value", "measured_at"])
            samples, last = newest_samples(data.to_pylist(maps_as_pydicts="strict"))
            if last is not None:
                samples.append((PREFIX + "monitor_last_run_timestamp_seconds", {}, last))
            self._samples = samples
        self._version = self._table.version()
