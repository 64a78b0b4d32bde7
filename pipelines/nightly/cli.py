"""Command-line arguments shared by the nightly jobs: ``--env``, ``--as-of`` or a backfill
range ``--from``/``--to`` (inclusive, run oldest first)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any


def parser(description: str | None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--env", default=None, help="conf overlay (default: PROFILAKE_ENV or local)")
    when = p.add_mutually_exclusive_group()
    when.add_argument(
        "--as-of", type=date.fromisoformat, help="snapshot date (default: yesterday, UTC)"
    )
    when.add_argument("--from", dest="date_from", type=date.fromisoformat, help="backfill start")
    p.add_argument("--to", dest="date_to", type=date.fromisoformat, help="backfill end (inclusive)")
    return p


def dates(args: argparse.Namespace, today: date | None = None) -> list[date]:
    """The dates to run, oldest first (hysteresis reads the previous date's segments)."""
    if args.date_from:
        end = args.date_to or args.date_from
        if end < args.date_from:
            raise SystemExit(f"--to {end} is before --from {args.date_from}")
        return [args.date_from + timedelta(days=i) for i in range((end - args.date_from).days + 1)]
    if args.date_to:
        raise SystemExit("--to needs --from")
    if args.as_of:
        return [args.as_of]
    from datetime import UTC, datetime

    return [(today or datetime.now(UTC).date()) - timedelta(days=1)]


def run_stage(
    argv: list[str] | None, description: str | None, stage: str,
    run: Callable[[Any, Any, date], dict],
) -> None:
    """``main`` of a single-stage job: parse the dates, hold the nightly lock (so it never
    overlaps a nightly run), run ``run(spark, conf, as_of)`` per date and print its result."""
    from pipelines.config import load_conf
    from pipelines.locks import run_lock
    from pipelines.session import get_spark

    args = parser(description).parse_args(argv)
    conf = load_conf(args.env)
    spark = get_spark(conf, f"profilake-{stage}")
    with run_lock(conf.path("nightly.lock_file"), conf.get("nightly.lock_stale_after_s"), stage):
        for d in dates(args):
            print(f"[{stage} {d}] {run(spark, conf, d)}", flush=True)
