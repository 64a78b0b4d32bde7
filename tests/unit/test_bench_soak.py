"""The soak benchmark's summary (tests/benchmarks/bench_soak.py): windows, batches beside
maintenance set apart, cost per event, trend — on hand-made batch metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.benchmarks.bench_soak import _refreshed, batch_fit, summarize, trend_per_hour

T0 = datetime(2026, 12, 4, 16, 0, tzinfo=UTC)


def _batch(minute: float, seconds: float, events: int) -> dict:
    start = T0 + timedelta(minutes=minute)
    return {"started_at": str(start), "finished_at": str(start + timedelta(seconds=seconds)),
            "processing_s": seconds, "input_rows": events, "lag_p99_s": 1.0, "step_s": {}}


def test_windows_cost_per_event_and_batches_beside_maintenance():
    raw = {
        "params": {"minutes": 4, "profiles": 10, "rate_eps": 1, "window_min": 2},
        "seed_batches": 1,
        "batches": [_batch(-5, 60.0, 500),  # the seed: left out
                    _batch(0, 10.0, 1000), _batch(1, 30.0, 2000),  # window 0
                    _batch(2, 50.0, 1000),  # window 1, beside the maintenance run
                    _batch(3, 40.0, 4000)],  # window 1, after it
        "maintenance": [{"started": str(T0 + timedelta(minutes=2, seconds=30)),
                         "ended": str(T0 + timedelta(minutes=2, seconds=55)), "exit": 0}],
    }
    summary, first, second = summarize(raw)
    assert (first["batches"], first["events"], first["beside_maintenance"]) == (2, 3000, 0)
    assert first["quiet_ms_per_event"] == round(1000 * 40 / 3000, 2)
    assert (second["batches"], second["beside_maintenance"]) == (2, 1)
    assert second["quiet_ms_per_event"] == 10.0  # 40 s / 4,000 events; the 50 s batch is out
    assert second["quiet_median_s"] == 40.0 and second["median_s"] == 45.0
    assert summary["events"] == 8000 and summary["batches"] == 4
    assert summary["ms_per_event_last_over_first"] == round(10.0 / 13.33, 2)
    assert summary["median_beside_maintenance_s"] == 50.0
    assert summary["maintenance"] == "@2min 25s exit 0"


def test_trend_is_the_least_squares_slope_per_hour():
    assert trend_per_hour([(0, 10.0), (1800, 15.0), (3600, 20.0)]) == 10.0
    assert trend_per_hour([(0, 10.0), (3600, 10.0)]) == 0.0


def test_the_batch_fit_holds_batch_size_and_the_refresh_apart_from_drift():
    # 12 s + 3 ms/event + 8 s when the refresh ran, and 6 s more per hour.
    points = [(t, e, r, 12.0 + 0.003 * e + 8.0 * r + 6.0 * t / 3600)
              for t, e, r in [(0, 1000, True), (600, 8000, False), (1200, 3000, True),
                              (2400, 9000, True), (3000, 4000, False), (3600, 2000, False)]]
    fitted = batch_fit(points)
    assert tuple(round(v, 6) for v in fitted) == (12.0, 3.0, 8.0, 6.0)
    # Batches that grow (a lane falling behind) at the same cost per event: no drift.
    growing = [(t, 1000 * 1.2 ** (t // 300), t % 600 == 0, 0.0) for t in range(0, 3600, 300)]
    growing = [(t, e, r, 5.0 + 0.002 * e + 4.0 * r) for t, e, r, _ in growing]
    assert abs(batch_fit(growing)[3]) < 1e-6


def test_a_batch_counts_as_refreshed_when_a_refresh_ran_during_it():
    batch = _batch(0, 10.0, 100)  # T0 .. T0 + 10 s

    def refresh(start_s: float, end_s: float) -> dict:
        return {"started_at": str(T0 + timedelta(seconds=start_s)),
                "finished_at": str(T0 + timedelta(seconds=end_s))}

    assert _refreshed(batch, [refresh(-5, 1)])  # ended during the batch
    assert _refreshed(batch, [refresh(9, 30)])  # began during it
    assert not _refreshed(batch, [refresh(-20, -1), refresh(10.5, 20)])
