"""The monitor's table figures on five-row frames: null shares, reason classes, per-source
daily counts in the window, the latest nightly snapshot and the stale-profile count."""

from __future__ import annotations

from datetime import date, datetime

from pipelines.monitoring import lake

T = datetime(2026, 10, 1, 12)


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

    features = spark.createDataFrame(
        [("p1", date(2026, 9, 30), 1), ("p1", date(2026, 10, 1), None),
         ("p2", date(2026, 10, 1), 3)], "profile_id string, as_of date, x int")
    assert lake.null_rates(lake.latest_snapshot(features))["x"] == 0.5

    profiles = spark.createDataFrame(
        [("p1", datetime(2026, 7, 1)), ("p2", datetime(2026, 8, 2, 13)),
         ("p3", datetime(2026, 10, 1, 9)), ("p4", None)],
        "profile_id string, last_seen timestamp")
    # 60 days before T is 2026-08-02 12:00: p1 is stale, p2 (an hour later) is not.
    assert lake.profile_figures(profiles, T, 60) == {
        "profiles": 4, "stale": 1, "newest": datetime(2026, 10, 1, 9)}
