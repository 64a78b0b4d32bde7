"""Test tooling: what the agent console's test runs in place of ``profilake-unmerge`` when the
real API starts an undo (``UndoJobs.command``). The real job re-resolves and re-folds a whole
lakehouse in Spark and is tested end to end in tests/integration/test_unmerge.py; the console
test checks the page, the real endpoints and the child-process polling around it.

Usage: ``python tests/undo_stand_in.py <identity_unmerges uri> [--sleep S] [--fail LINE] --merge
ID --by WHO --reason R``. Waits a moment (so the first poll sees ``running``), then records the
undo the way the real job's last step does: one ``identity_unmerges`` row, written with
delta-rs — or, with ``--fail``, prints LINE and exits 1 as the job does when it refuses.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("unmerges_uri")
    parser.add_argument("--merge", required=True)
    parser.add_argument("--by", required=True)
    parser.add_argument("--reason", required=True)
    parser.add_argument("--sleep", type=float, default=1.0)
    parser.add_argument("--fail")
    args = parser.parse_args(argv)
    time.sleep(args.sleep)
    if args.fail:
        print(args.fail, flush=True)
        return 1
    record_undo(args.unmerges_uri, args.merge, args.by, args.reason)
    return 0


def record_undo(uri: str, mid: str, by: str, reason: str) -> None:
    """One row in identity_unmerges' columns (pipelines/identity/unmerge.py's UNMERGES)."""
    import pyarrow as pa
    from deltalake import write_deltalake

    schema = pa.schema([("merge_id", pa.string()), ("survivor_profile_id", pa.string()),
                        ("merged_profile_id", pa.string()),
                        ("undone_at", pa.timestamp("us", tz="UTC")),
                        ("moved_identifiers", pa.int64()), ("undone_by", pa.string()),
                        ("reason", pa.string())])
    row = {"merge_id": mid, "survivor_profile_id": None, "merged_profile_id": None,
           "undone_at": datetime.now(UTC), "moved_identifiers": 0, "undone_by": by,
           "reason": reason}
    write_deltalake(uri, pa.Table.from_pylist([row], schema), mode="append")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
