"""Erase one person (GDPR art. 17): every table, landing file, validation file, Redis key and
Kafka record of theirs the project controls; the erasure log keeps only a keyed hash and
the time (docs/operations.md, "Erasing a person"). Run it with the stream, the hot lane and
the batch jobs stopped.

    profilake-erase --customer-id C0000606 [--env local] [--skip-kafka]
    profilake-erase --email ann@example.com
    spark-submit <master, connectors, --py-files: docs/deploy.md> \\
        jobs/erase_person.py --env cluster --email ann@example.com

Exit codes: 0 erased (or already erased, nothing left); 2 bad request or unknown person;
3 erased but not complete: Kafka was not searched or still holds records the lanes have
not consumed (run it again once they have).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from pipelines.config import load_conf
from pipelines.privacy.erase import erase_person, report_json
from pipelines.privacy.subject import ErasureRequestError, normalize_request


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="profilake-erase", description=__doc__.split("\n")[0])
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--customer-id", help="the person's customer id")
    who.add_argument("--email", help="the person's e-mail address")
    p.add_argument("--env", help="config environment (default: PROFILAKE_ENV or local)")
    p.add_argument("--skip-kafka", action="store_true", help="leave the Kafka topics alone")
    p.add_argument("--purge-all", action="store_true",
                   help="VACUUM and cut the log of every table, also those without the person "
                        "now (after an erasure that died half-way)")
    args = p.parse_args(argv)
    id_type, value = (
        ("customer_id", args.customer_id) if args.customer_id else ("email", args.email))
    try:
        normalize_request(id_type, value)  # refuse bad input before starting Spark
    except ErasureRequestError as e:
        p.error(str(e))
    conf = load_conf(args.env)
    from pipelines.session import get_spark

    spark = get_spark(conf, "profilake-erase")
    try:
        report = erase_person(spark, conf, id_type, value, datetime.now(UTC).replace(tzinfo=None),
                              kafka=not args.skip_kafka, purge_all=args.purge_all)
    except ErasureRequestError as e:
        print(f"profilake-erase: {e}", file=sys.stderr)
        return 2
    return _outcome(report)


def _outcome(report) -> int:
    if report.previously_erased_at is not None:
        print(f"nothing left to erase: erased at {report.previously_erased_at:%Y-%m-%d %H:%M} UTC")
        return 0
    print(report_json(report))
    if not report.complete:
        print("not complete: " + (report.kafka_skipped or
              f"Kafka still holds {sum(report.kafka.pending.values())} record(s) the lanes have "
              "not consumed; run again once they have"), file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
