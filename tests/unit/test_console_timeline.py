"""The console timeline's rules on change-feed rows as delta-rs gives them (no Spark)."""

from __future__ import annotations

import json
from datetime import datetime

from pipelines.serving.console.timeline import VALUE_CHARS, changed_fields, entries_from_feed


def _doc(version: int, **fields) -> str:
    return json.dumps({"profile_id": "p_1", "profile_version": version,
                       "exported_at": f"2026-09-0{version}T00:00:00.000Z", **fields})


def _row(commit: int, change: str, doc: str | None) -> dict:
    return {"_commit_version": commit, "_change_type": change, "document": doc,
            "_commit_timestamp": datetime(2026, 9, 1, commit)}


def test_merge_updates_overwrites_and_deletes_become_entries():
    rows = [
        _row(5, "delete", _doc(2, intent="cart")),  # merged away
        _row(0, "insert", _doc(1, intent=None)),
        _row(2, "update_postimage", _doc(2, intent="cart")),
        _row(2, "update_preimage", _doc(1, intent=None)),
        # The nightly overwrite re-publishes it unchanged but for exported_at: no entry.
        _row(3, "delete", _doc(2, intent="cart")),
        _row(3, "insert", _doc(2, intent="cart").replace("09-02", "09-03")),
    ]
    entries = entries_from_feed(rows)
    assert [(e.export_version, e.change, e.profile_version) for e in entries] == [
        (0, "insert", 1), (2, "update", 2), (5, "delete", 2)]
    assert entries[1].changed == [{"field": "intent", "old": None, "new": "cart"}]


def test_an_overwrite_that_changed_the_profile_is_an_update():
    rows = [_row(7, "delete", _doc(2, tier="free")), _row(7, "insert", _doc(3, tier="premium"))]
    (entry,) = entries_from_feed(rows)
    assert (entry.change, entry.profile_version) == ("update", 3)
    assert entry.changed == [{"field": "tier", "old": "free", "new": "premium"}]


def test_bookkeeping_is_left_out_and_long_values_are_cut():
    old = {"profile_version": 1, "exported_at": "a", "updated_at": "a", "as_of": "a", "x": 1}
    new = {"profile_version": 2, "exported_at": "b", "updated_at": "b", "as_of": "b",
           "x": 1, "blob": "y" * 1000}
    (change,) = changed_fields(old, new)
    assert change["field"] == "blob" and change["old"] is None
    assert len(change["new"]) == VALUE_CHARS and change["new"].endswith("…")


def test_a_vacuumed_start_of_the_window_leaves_the_newer_commits(tmp_path):
    """A real Delta table with its change data feed (written by delta-rs): four commits of one
    profile; the first commit's file removed as VACUUM would. The timeline then reads the newer
    half of the window and says there is more."""
    import pyarrow as pa
    from deltalake import write_deltalake

    from pipelines.serving.console.timeline import ProfileTimeline
    from pipelines.serving.history import CommitIndex

    uri = str(tmp_path / "chatbot_export")
    for version in (1, 2, 3, 4):
        table = pa.table({"profile_id": ["p_1"], "document": [_doc(version, n=version)]})
        write_deltalake(uri, table, mode="append",
                        configuration={"delta.enableChangeDataFeed": "true"})
    timeline = ProfileTimeline(CommitIndex(uri), window=50)
    whole = timeline.timeline("p_1", limit=10)
    assert [e["profile_version"] for e in whole["entries"]] == [4, 3, 2, 1]
    assert [e["changed"] for e in whole["entries"][:1]] == [[{"field": "n", "old": 3, "new": 4}]]
    assert whole["more"] is False

    first_file = sorted(tmp_path.glob("chatbot_export/*.parquet"), key=lambda p: p.stat().st_mtime)
    first_file[0].unlink()
    later = timeline.timeline("p_1", limit=10)
    assert later["more"] is True and later["from_export_version"] > 0
    versions = [e["profile_version"] for e in later["entries"]]
    assert versions == sorted(versions, reverse=True) and versions[0] == 4 and 1 not in versions
