"""Undo one identity merge: split the merged profile back out of its survivor, re-fold both
from the event log, correct the chatbot export and cache, record the undo and keep the
identifiers that linked them from linking them again (docs/identity.md, "Undoing a merge").

    profilake-unmerge --merge 3f2a9c0d1e4b5a67 [--env local] [--reason "two people"] [--dry-run]
    spark-submit <master, connectors, --py-files: docs/deploy.md> \\
        jobs/unmerge.py --env cluster --merge 3f2a9c0d1e4b5a67

Exit codes: 0 undone (or, with --dry-run, the plan printed); 2 unknown merge, already undone,
or a merge that cannot be undone as it stands (the message says why).
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys
from datetime import UTC, datetime

from pipelines.catalog import Catalog
from pipelines.config import load_conf_or_dump
from pipelines.identity.merge_ids import MERGE_ID_LENGTH
from pipelines.identity.merge_log import MergeLog, UnmergeError


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="profilake-unmerge", description=__doc__.split("\n")[0])
    p.add_argument("--merge", required=True, help="the merge id (identity_merges, 16 hex digits)")
    p.add_argument("--env", help="config environment (default: PROFILAKE_ENV or local)")
    p.add_argument("--reason", help="why, recorded in identity_unmerges")
    p.add_argument("--by", help="who asks (default: the OS user)")
    p.add_argument("--dry-run", action="store_true", help="print what would move, change nothing")
    args = p.parse_args(argv)
    if not re.fullmatch(f"[0-9a-f]{{{MERGE_ID_LENGTH}}}", args.merge):
        p.error(f"--merge takes {MERGE_ID_LENGTH} lowercase hex digits, got {args.merge!r}")
    conf = load_conf_or_dump(args.env)
    try:
        MergeLog.from_catalog(Catalog(conf)).check(args.merge)  # answered before Spark starts
    except UnmergeError as e:
        print(f"profilake-unmerge: {e}", file=sys.stderr)
        return 2
    from pipelines.identity.unmerge_run import run_unmerge
    from pipelines.session import get_spark

    spark = get_spark(conf, "profilake-unmerge")
    try:
        plan = run_unmerge(spark, conf, args.merge, datetime.now(UTC).replace(tzinfo=None),
                           by=args.by or getpass.getuser(), reason=args.reason,
                           dry_run=args.dry_run)
    except UnmergeError as e:
        print(f"profilake-unmerge: {e}", file=sys.stderr)
        return 2
    print("\n".join(plan.lines()))
    print("dry run: nothing changed" if args.dry_run else f"merge {args.merge} undone")
    return 0


if __name__ == "__main__":
    sys.exit(main())
