"""make bench's history: runs append to history.jsonl and each figure is compared with the
newest earlier run of the same scale that has the row."""

from __future__ import annotations

import json

from tests.benchmarks import history


def _run(when, scale, commit, rows):
    return {"when": when, "scale": scale, "commit": commit, "results": rows}


def test_each_figure_is_compared_with_the_newest_earlier_run_of_its_scale():
    old = _run("20261201", "small", "aaa", [
        {"name": "hot", "events_per_s": 10_000, "drained": True},
        {"name": "api", "p99_ms": 2.0},
    ])
    newer = _run("20261202", "small", "bbb", [{"name": "hot", "events_per_s": 16_000}])
    full = _run("20261203", "full", "ccc", [{"name": "hot", "events_per_s": 1}])
    now = _run("20261204", "small", "ddd", [
        {"name": "hot", "events_per_s": 20_000, "drained": True, "note": "x"},
        {"name": "api", "p99_ms": 1.5},
        {"name": "new_row", "seconds": 3},
    ])
    got = {(c["name"], c["figure"]): c for c in history.changes(now, [old, newer, full])}
    # hot: against bbb (newest small run with the row), not aaa and not the full-scale ccc.
    assert got[("hot", "events_per_s")]["before"] == 16_000
    assert got[("hot", "events_per_s")]["change_pct"] == 25.0  # (20000 - 16000) / 16000
    assert got[("hot", "events_per_s")]["before_commit"] == "bbb"
    # api: only aaa has it.
    assert got[("api", "p99_ms")]["change_pct"] == -25.0
    assert got[("api", "p99_ms")]["before_commit"] == "aaa"
    # booleans and text are not figures; a row never seen before has nothing to compare.
    assert set(got) == {("hot", "events_per_s"), ("api", "p99_ms")}


def test_a_zero_before_has_no_percentage():
    changes = history.changes(_run("2", "small", "b", [{"name": "r", "errors": 2}]),
                              [_run("1", "small", "a", [{"name": "r", "errors": 0}])])
    assert changes[0]["change_pct"] is None


def test_append_then_read_keeps_order_and_skips_a_torn_line(tmp_path):
    log = tmp_path / "bench" / history.HISTORY_FILE
    history.append(log, _run("1", "small", "a", []))
    history.append(log, _run("2", "small", "b", []))
    with log.open("a") as f:
        f.write(json.dumps(_run("3", "small", "c", []))[:10])  # a run killed mid-write
    assert [r["when"] for r in history.read(log)] == ["1", "2"]
    assert history.read(tmp_path / "absent.jsonl") == []


def test_commit_outside_a_checkout_is_unknown(tmp_path):
    assert history.commit(tmp_path) == "unknown"
