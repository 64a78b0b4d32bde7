"""The hot lane: each event of the events topic folded into the served profile in Redis
within milliseconds (docs/streaming.md, "Hot lane").

    profilake-hot --env local                  # runs until SIGINT/SIGTERM
    python -m jobs.hot_lane --env test --topic t1 --set cache.prefix=t1 --timeout 30

Not a Spark job: a kafka-python consumer in the ``hot.group_id`` group. Run one per machine or
container; partitions spread over the group's members. SIGINT or SIGTERM stops it between two
polled batches, with exit 0 and a one-line summary. A conf that does not load, or a ``--set``
without ``=`` or naming a key the conf lacks, exits 2 with one line naming it.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time

from pipelines.config import ConfigError, flag_values, load_conf, overridden
from pipelines.hot.lane import HotLane


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="profilake-hot", description=__doc__.split("\n")[0])
    p.add_argument("--env", help="config environment (default: PROFILAKE_ENV or local)")
    p.add_argument("--topic", action="append", help="topic to read (default: streaming.topics)")
    p.add_argument("--timeout", type=float, help="stop after this many seconds")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a conf key, e.g. --set hot.group_id=g2 (repeatable)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    try:
        conf = load_conf(args.env)
        values = flag_values(conf, args.set)
    except ConfigError as exc:  # one line, as profilake-monitor and -maintain say it
        print(f"profilake-hot: {exc}", file=sys.stderr)
        return 2
    if args.topic:
        values["streaming.topics"] = list(args.topic)
    if values:
        conf = overridden(conf, values)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    deadline = time.monotonic() + args.timeout if args.timeout else None
    lane = HotLane(conf)
    print(f"hot lane: consuming {', '.join(lane.settings.topics)} as group "
          f"{lane.settings.group_id}", flush=True)
    stats = lane.run(lambda: stop.is_set() or (deadline is not None
                                                 and time.monotonic() > deadline))
    print(stats.summary(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
