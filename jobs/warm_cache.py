"""Rebuild the Redis cache from the Delta export when Redis lost it (restart, flush).

    profilake-warm-cache --env local          # no-op while the cache has a generation
    profilake-warm-cache --force              # reload even so

No Spark: the export is read with delta-rs. Run it as Redis's post-start hook or every minute.
"""

from __future__ import annotations

import argparse
import json
import sys

from pipelines.config import load_conf


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="profilake-warm-cache", description=__doc__.split("\n")[0])
    p.add_argument("--env", help="config environment (default: PROFILAKE_ENV or local)")
    p.add_argument("--force", action="store_true", help="reload even when the cache is loaded")
    args = p.parse_args(argv)
    from pipelines.serving.warm import warm_cache

    print(json.dumps(warm_cache(load_conf(args.env), force=args.force)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
