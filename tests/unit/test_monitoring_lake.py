"""The monitor's table figures on five-row frames: null shares, reason classes and per-source
daily counts in the window (the stale count and the latest nightly snapshot are checked on
the nightly's lakehouse, tests/integration/test_nightly_job.py)."""

from __future__ import annotations

from datetime import date, datetime

from pipelines.monitoring import lake


def test_figures_on_tiny_frames(spark):
    df = spark.createDataFrame(
        [("p1", None, [1]), ("p2", "x", None), ("p3", None, []), ("p4", "y", [2])],
        "profile_id string, name string, tags array<int>")
    assert lake.null_rates(df) == {"profile_id": 0.0, "name": 0.5, "tags": 0.25}

    q = spark.createDataFrame(
        [("events", "unknown_event_type: foo", datetime(2026, 10, 1, 11)),
         ("events", "unknown_event_type: bar", datetime(2026, 10, 1, 11)),
         ("events", "batch rejected: failed expect_x", datetime(2026, 10, 1, 11)),
         ("events", None, datetime(2026, 10, 1, 11)),
         ("events", "unknown_event_type: old", datetime(2026, 9, 29))],
        "table_name string, reason string, quarantined_at timestamp")
    assert lake.quarantine_counts(q, datetime(2026, 9, 30, 12)) == {
        ("events", "unknown_event_type"): 2, ("events", "batch rejected"): 1,
        ("events", "unknown"): 1}

    events = spark.createDataFrame(
        [("web", date(2026, 9, 30)), ("web", date(2026, 9, 30)), ("crm", date(2026, 10, 1)),
         ("web", date(2026, 9, 20)), ("web", date(2026, 10, 2))],
        "source string, event_date date")
    assert lake.daily_source_counts(events, date(2026, 9, 24), date(2026, 10, 1)) == {
        ("web", date(2026, 9, 30)): 2, ("crm", date(2026, 10, 1)): 1}
