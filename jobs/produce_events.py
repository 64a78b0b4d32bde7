"""Send envelope events (ARCHITECTURE §3.1) to Kafka at a target rate, with messiness.

    profilake-produce --env local --rate 500 --duration 60
    profilake-produce --rate 0 --count 50000                  # as fast as the broker acks
    profilake-produce --customers-from var/ground_truth/people.parquet --late-share 0.2

Defaults come from conf (``kafka.*``, ``producer.*``, ``generator.seed/customers``). Prints a
progress line each second on stderr and the final report on stdout; exits 1 if any message
failed delivery, 2 on invalid arguments or when the broker or topic is unavailable.
"""

from __future__ import annotations

import argparse
import json
import sys

from pipelines.config import load_conf
from pipelines.events.producer import (
    ProduceReport,
    ProducerError,
    load_customers,
    produce,
    settings_from_conf,
    synthetic_population,
)


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="profilake-produce", description=__doc__.split("\n")[0])
    p.add_argument("--env", help="config environment (default: PROFILAKE_ENV or local)")
    p.add_argument("--topic", help="default: kafka.topics.events.name")
    p.add_argument("--bootstrap", help="default: kafka.bootstrap_servers")
    p.add_argument("--rate", type=float, metavar="EPS", help="events/s, 0 = max (producer.rate)")
    end = p.add_mutually_exclusive_group()
    end.add_argument("--duration", type=float, metavar="S", help="seconds (producer.duration_s)")
    end.add_argument("--count", type=int, metavar="N", help="send exactly N messages")
    for kind in ("late", "duplicate", "malformed"):
        p.add_argument(f"--{kind}-share", type=float, metavar="F", help=f"producer.{kind}_share")
    p.add_argument("--seed", type=int, help="population and event mix (generator.seed)")
    who = p.add_mutually_exclusive_group()
    who.add_argument("--customers", type=int, metavar="N", help="synthetic population size")
    who.add_argument("--customers-from", metavar="PATH", help="ground-truth people.parquet")
    p.add_argument("--json", action="store_true", help="print the final report as JSON")
    return p.parse_args(argv)


def _progress(report: ProduceReport) -> None:
    print(f"  {report.seconds:6.1f}s  sent {report.sent:>9,}  {report.rate:>9,.0f} events/s  "
          f"errors {report.errors}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    conf = load_conf(args.env)
    try:
        settings = settings_from_conf(
            conf, topic=args.topic, bootstrap_servers=args.bootstrap, rate=args.rate,
            duration_s=args.duration, count=args.count, late_share=args.late_share,
            duplicate_share=args.duplicate_share, malformed_share=args.malformed_share,
            seed=args.seed)
        customers = (load_customers(args.customers_from) if args.customers_from else
                     synthetic_population(args.customers or int(conf.get("generator.customers")),
                                          settings.seed))
        report = produce(settings, customers, on_progress=_progress)
    except (ProducerError, ValueError, OSError) as exc:  # bad input or no broker: no traceback
        print(f"profilake-produce: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report.to_dict()) if args.json else report.summary())
    for sample in report.error_samples:
        print(f"  delivery error: {sample}", file=sys.stderr)
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
