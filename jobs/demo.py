"""`make demo`: the platform end to end on the embedded defaults, with a readable summary.

Assumes the local services are up (`make demo` starts them first). Safe to run again: files
already ingested are skipped and event ids never count twice.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime

from pyspark.sql import functions as F

from pipelines.catalog import Catalog
from pipelines.config import Conf, load_conf
from pipelines.session import get_spark, jvm_log


def banner(text: str) -> None:
    print(f"\n\033[1m━━ {text}\033[0m", flush=True)


def step_generate(conf: Conf, customers: int) -> None:
    from jobs.generate_data import main as generate

    banner(f"1. Generate a messy multi-source dataset ({customers:,} customers)")
    generate(["--env", conf.env, "--customers", str(customers)])


def step_ingest(spark, conf: Conf) -> None:
    from pipelines.ingest.flow import run_ingest
    from pipelines.ingest.sources import SOURCES

    banner("2. Batch ingest: landing → bronze → silver → identity → unified profiles")
    now = datetime.now(UTC).replace(tzinfo=None)
    report = run_ingest(spark, conf, list(SOURCES), now)
    print(f"   files {report.files}")
    print(
        f"   new events {report.events_new:,} · quarantined {report.rejected:,} · "
        f"identity merges {report.merges:,} · profiles {report.profiles:,}"
    )


def show_quality(spark, catalog: Catalog) -> None:
    banner("3. The gate: why rows were quarantined (nothing is lost)")
    q = spark.read.format("delta").load(catalog.path("quarantine"))
    for row in q.groupBy("reason").count().orderBy("count", ascending=False).limit(8).collect():
        print(f"   {row['count']:>6,}  {row.reason[:90]}")


def show_profiles(spark, catalog: Catalog) -> None:
    banner("4. Unified profiles: one person, identifiers joined from several sources")
    profiles = spark.read.format("delta").load(catalog.path("profiles"))
    sample = (
        profiles.where("size(sources) >= 3 AND first_name IS NOT NULL")
        .orderBy("profile_id")
        .limit(3)
        .collect()
    )
    for p in sample:
        print(
            f"   {p.profile_id}  {p.first_name} {p.last_name or ''} · {p.account_tier} · "
            f"{p.country} · sources {', '.join(p.sources)}"
        )
        for id_type, values in sorted((p.identifiers or {}).items()):
            print(f"      {id_type:<14} {', '.join(values[:3])}")
        print(
            f"      orders {p.orders_count} · net spend {p.net_spend:,.2f} EUR · "
            f"open tickets {p.open_tickets} · sessions {p.sessions} · intent {p.intent}"
        )


def step_nightly(spark, conf: Conf, catalog: Catalog) -> None:
    from jobs.nightly import run_dates
    from jobs.segment_report import run as segment_report

    # The generated history ends before today: segment as of its last day, so the churn
    # model has a label window inside the data.
    as_of = (
        spark.read.format("delta").load(catalog.path("events")).agg(F.max("event_date")).first()[0]
    )
    banner(f"5. Nightly as of {as_of}: features → clustering + churn model (MLflow) → segments")
    run_dates(spark, conf, [as_of])
    segment_report(spark, conf, as_of, examples=5)


def step_produce(conf: Conf, seconds: int) -> None:
    from pipelines.events.producer import produce, settings_from_conf, synthetic_population

    banner(f"6. Live events to Kafka for {seconds}s (late, duplicated and malformed mixed in)")
    settings = settings_from_conf(
        conf, rate=float(conf.get("producer.rate")), duration_s=float(seconds)
    )
    report = produce(settings, synthetic_population(200, settings.seed))
    print(
        f"   sent {report.sent:,} events at {report.rate:,.0f}/s "
        f"({', '.join(f'{k} {v}' for k, v in sorted(report.by_kind.items()))})"
    )


def step_stream(spark, conf: Conf) -> None:
    from jobs.demo_live import live_demo

    banner("7. Real-time: a cart add through the read API in ms (hot lane), then in Delta")
    live_demo(conf, spark, out=lambda line: print(f"   {line}"))


def step_chatbot(conf: Conf) -> None:
    from jobs.demo_chatbot import demo

    banner("8. Chatbot: export → Redis → read API → two customers, two different answers")
    demo(conf, out=lambda line: print(f"   {line}"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default=None)
    parser.add_argument("--customers", type=int, default=None)
    args = parser.parse_args(argv)
    conf = load_conf(args.env)
    started = time.perf_counter()
    step_generate(conf, args.customers or int(conf.get("generator.customers")))
    spark = get_spark(conf, "profilake-demo")
    catalog = Catalog(conf)
    step_ingest(spark, conf)
    show_quality(spark, catalog)
    show_profiles(spark, catalog)
    step_nightly(spark, conf, catalog)
    step_produce(conf, 5)
    step_stream(spark, conf)
    step_chatbot(conf)
    banner(
        f"Done in {time.perf_counter() - started:,.0f}s · tables under "
        f"{conf.path('paths.lakehouse')} · Spark's own log {jvm_log(conf)} · "
        "`make mlflow-ui` for MLflow"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
