"""Monitoring rules on hand-built figures (expected values worked out from each rule), the
conf's rule blocks, Prometheus rendering and the API's request counters (no Spark)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from pipelines.config import ConfigError, load_conf, overridden
from pipelines.monitoring import rules
from pipelines.monitoring.params import MonitorParams, select_checks
from pipelines.monitoring.prometheus import newest_samples, render
from pipelines.monitoring.records import Alert
from pipelines.serving.request_metrics import RequestCounters, route_of

NOW = datetime(2026, 10, 2, 12, tzinfo=UTC)
P = replace(
    MonitorParams.from_conf(load_conf("test")),
    stream_lag_max_records=100_000, event_max_age_s=3600, commit_max_age_s=3600,
    volume_baseline_days=7, volume_min_baseline_days=3, volume_min_ratio=0.5,
    volume_max_ratio=3.0, quarantine_max_rate=0.05, quarantine_min_rows=100,
    null_rate_max_increase=0.1, stale_max_share=0.5, nightly_max_age_h=30, psi_alert=0.2,
)


def _alerts(found):
    return [(a.rule, a.subject, a.value, a.threshold) for a in found.alerts]


def _metrics(found):
    return {(m.name, tuple(sorted(m.labels.items()))): m.value for m in found.metrics}


def test_partition_lag_counts_from_the_lanes_offset_or_the_log_start():
    end = {"t:0": 100, "t:1": 50, "t:2": 10}
    start = {"t:0": 0, "t:1": 20, "t:2": 0}
    consumed = {"t:0": 90, "t:1": 5}  # t:1 read below what retention kept; t:2 never read
    assert rules.partition_lag(end, start, consumed) == {"t:0": 10, "t:1": 30, "t:2": 10}
    assert rules.partition_lag({"t:0": 5}, {"t:0": 0}, {"t:0": 7}) == {"t:0": 0}


def test_stream_lag_alerts_on_a_lane_total_above_the_limit():
    found = rules.stream_lag({"delta_lane": {"t:0": 60_000, "t:1": 50_000},
                              "hot_lane": {"t:0": 5, "t:1": 0}}, P)
    m = _metrics(found)
    assert m[("stream_lag_records", (("lane", "delta_lane"),))] == 110_000
    assert m[("stream_lag_records", (("lane", "hot_lane"),))] == 5
    assert m[("stream_partition_lag_records", (("lane", "delta_lane"), ("partition", "t:1")))] \
        == 50_000
    assert _alerts(found) == [("stream_lag", "lane=delta_lane", 110_000, 100_000)]


def test_freshness_ages_and_their_alerts():
    found = rules.freshness(NOW, NOW - timedelta(hours=2), NOW - timedelta(minutes=10), P)
    assert _metrics(found) == {("newest_event_age_seconds", ()): 7200.0,
                               ("profiles_commit_age_seconds", ()): 600.0}
    assert _alerts(found) == [("event_freshness", "", 7200.0, 3600)]
    assert not rules.freshness(NOW, None, None, P).metrics


def test_source_volume_against_the_mean_of_days_with_data():
    d = date(2026, 10, 1)
    counts = {("web", d - timedelta(days=i)): 100 for i in range(1, 5)}
    counts |= {("web", d): 40,  # 40 / 100 = 0.4 < 0.5
               ("orders", d - timedelta(days=1)): 10, ("orders", d - timedelta(days=2)): 20,
               ("orders", d - timedelta(days=3)): 30,  # no orders on d-4: a real zero
               ("orders", d): 45,  # (10+20+30+0)/4 = 15; 45/15 = 3.0, not above 3.0
               ("crm", d): 5}  # a new source: baseline 0, no ratio
    found = rules.source_volume(counts, d, P)
    m = _metrics(found)
    assert m[("source_volume_baseline_records", (("source", "web"),))] == 100
    assert m[("source_volume_ratio", (("source", "web"),))] == pytest.approx(0.4)
    assert m[("source_volume_baseline_records", (("source", "orders"),))] == 15
    assert m[("source_volume_ratio", (("source", "orders"),))] == pytest.approx(3.0)
    assert m[("source_volume_records", (("source", "crm"),))] == 5
    assert ("source_volume_ratio", (("source", "crm"),)) not in m
    assert _alerts(found) == [("source_volume", "source=web", pytest.approx(0.4), 0.5)]
    # Two days of history is below min_baseline_days (3): volumes only.
    young = {k: v for k, v in counts.items() if k[1] >= d - timedelta(days=2)}
    assert {m.name for m in rules.source_volume(young, d, P).metrics} == {"source_volume_records"}


def test_quarantine_rate_per_table_and_reason():
    quarantined = {("events", "invalid_event_time"): 40, ("events", "unknown_event_type"): 20,
                   ("profiles", "failed x"): 1, ("segments", "y"): 10}
    written = {"events": 940, "profiles": 99, "features": 400, "segments": 10}
    found = rules.quarantine_rate(quarantined, written, P)
    m = _metrics(found)
    assert m[("quarantine_rate", (("table", "events"),))] == pytest.approx(0.06)
    assert m[("quarantine_rate", (("table", "profiles"),))] == pytest.approx(0.01)
    assert m[("quarantine_rate", (("table", "features"),))] == 0
    assert m[("quarantined_records", (("reason", "unknown_event_type"), ("table", "events")))] \
        == 20
    # segments: half quarantined, but 20 rows is below min_rows.
    assert _alerts(found) == [("quarantine_rate", "table=events", pytest.approx(0.06), 0.05)]


def test_null_rate_jump_against_the_previous_measure():
    current = {("profiles", "a"): 0.3, ("profiles", "b"): 0.15, ("profiles", "c"): 0.5}
    previous = {("profiles", "a"): 0.1, ("profiles", "b"): 0.1}
    found = rules.null_rate_jumps(current, previous, P)
    assert len(found.metrics) == 3
    assert _alerts(found) == [("null_rate_jump", "column=a,table=profiles", pytest.approx(0.2),
                               0.1)]


def test_stale_profiles_share():
    assert _alerts(rules.stale_profiles(10, 6, P)) == [("stale_profiles", "", 0.6, 0.5)]
    assert not rules.stale_profiles(10, 5, P).alerts
    assert {m.name for m in rules.stale_profiles(0, 0, P).metrics} == {"profiles",
                                                                        "stale_profiles"}


def test_nightly_age():
    assert _alerts(rules.nightly_age(NOW, None, None, P)) == [("nightly_age", "", None, 108000)]
    late = rules.nightly_age(NOW, NOW - timedelta(hours=31), "2026-10-01", P)
    assert _alerts(late) == [("nightly_age", "", 111600.0, 108000)]
    ok = rules.nightly_age(NOW, NOW - timedelta(hours=29), "2026-10-01", P)
    assert not ok.alerts
    assert _metrics(ok)[("nightly_last_success_timestamp_seconds", ())] == \
        (NOW - timedelta(hours=29)).timestamp()


def test_model_drift_uses_the_drift_stage_threshold():
    found = rules.model_drift({"a": 0.25, "b": 0.1}, "2026-10-01", P)
    assert _alerts(found) == [("model_drift", "column=a", 0.25, 0.2)]


def test_an_alert_is_posted_again_only_after_the_repeat_interval():
    a = Alert("stream_lag", "warning", 1, 0, "m", {"lane": "hot_lane"})
    posted = {("stream_lag", "lane=hot_lane"): NOW - timedelta(hours=23)}
    assert not rules.should_post(a, posted, NOW, 24)
    assert rules.should_post(a, posted, NOW + timedelta(hours=2), 24)
    assert rules.should_post(Alert("stream_lag", "warning", 1, 0, "m", {"lane": "delta_lane"}),
                             posted, NOW, 24)


def test_rule_conf_is_checked():
    conf = load_conf("test")
    with pytest.raises(ConfigError, match="monitor.rules.stream_lag.severity"):
        MonitorParams.from_conf(overridden(conf, {"monitor.rules.stream_lag.severity": "loud"}))
    with pytest.raises(ConfigError, match="unknown check"):
        select_checks(["lag"])
    assert select_checks(["nightly", "freshness"]) == ("freshness", "nightly")


def test_prometheus_text_escapes_labels_and_keeps_the_newest_value():
    rows = [
        {"metric": "quarantined_records", "labels": {"table": "events", "reason": 'say "x"\\'},
         "value": 1.0, "measured_at": NOW - timedelta(hours=1)},
        {"metric": "quarantined_records", "labels": {"table": "events", "reason": 'say "x"\\'},
         "value": 3.0, "measured_at": NOW},
        {"metric": "profiles", "labels": {}, "value": 7.0, "measured_at": NOW - timedelta(hours=2)},
    ]
    samples, last = newest_samples(rows)
    assert last == NOW.timestamp()
    assert render(samples) == (
        "# TYPE profilake_profiles gauge\n"
        "profilake_profiles 7.0\n"
        "# TYPE profilake_quarantined_records gauge\n"
        'profilake_quarantined_records{reason="say \\"x\\"\\\\",table="events"} 3.0\n'
    )


def test_request_counters_histogram_is_cumulative():
    c = RequestCounters()
    for seconds in (0.0005, 0.003, 0.003, 2.0, 9.0):
        c.observe(route_of("/v1/profiles/p_00"), 200, seconds)
    c.observe(route_of("/nope"), 404, 0.001)
    s = {(n, tuple(sorted(lbl.items()))): v for n, lbl, v in c.samples()}
    b = "profilake_api_request_duration_seconds_bucket"
    assert s[(b, (("le", "0.001"), ("route", "/v1/profiles")))] == 1
    assert s[(b, (("le", "0.005"), ("route", "/v1/profiles")))] == 3
    assert s[(b, (("le", "2.5"), ("route", "/v1/profiles")))] == 4
    assert s[(b, (("le", "+Inf"), ("route", "/v1/profiles")))] == 5
    assert s[("profilake_api_request_duration_seconds_sum", (("route", "/v1/profiles"),))] == \
        pytest.approx(11.0065)
    assert s[("profilake_api_requests_total", (("route", "other"), ("status", "404")))] == 1


def test_the_job_refuses_an_unknown_check_before_spark_starts(capsys):
    from jobs.monitor import main

    assert main(["--env", "test", "--check", "lag"]) == 2
    assert "unknown check(s) lag" in capsys.readouterr().err
