"""Show one profile's change history: what changed, when, and from which events.

    profilake-history --profile-id p_0123456789abcdef
    profilake-history --identifier customer_id=C0000042 --env local
    profilake-history --profile-id p_… --json

Reads the profiles table's change data feed (docs/streaming.md#history). Exit 2 when the
profile or identifier is unknown.
"""

from __future__ import annotations

import argparse
import json
import sys

from pipelines.catalog import Catalog
from pipelines.config import load_conf, relocated
from pipelines.session import get_spark
from pipelines.stream.history import format_history, profile_history, profile_id_for


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="profilake-history", description=__doc__.split("\n")[0])
    p.add_argument("--env", help="config environment (default: PROFILAKE_ENV or local)")
    p.add_argument("--root", help="override paths.root (and every path under it)")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--profile-id")
    who.add_argument(
        "--identifier",
        metavar="TYPE=VALUE",
        help="normalized identifier, e.g. email=ann@example.com",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    conf = load_conf(args.env)
    if args.root:
        conf = relocated(conf, args.root)
    spark = get_spark(conf, "profilake-history")
    catalog = Catalog(conf)
    try:
        profile_id = args.profile_id
        if profile_id is None:
            id_type, _, id_value = args.identifier.partition("=")
            profile_id = profile_id_for(spark, catalog, id_type, id_value)
        history = profile_history(spark, catalog, profile_id)
    except LookupError as exc:
        print(exc, file=sys.stderr)
        return 2
    if not history.changes:
        print(f"no history for profile {profile_id}", file=sys.stderr)
        return 2
    if args.json:
        print(
            json.dumps(
                {
                    "profile_id": history.profile_id,
                    "changes": [c.to_dict() for c in history.changes],
                    "merges": history.merges,
                },
                default=str,
                indent=1,
            )
        )
    else:
        print(format_history(history))
    return 0


if __name__ == "__main__":
    sys.exit(main())
