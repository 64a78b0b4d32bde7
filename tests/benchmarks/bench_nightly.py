"""Nightly wall time per stage (events, features, models, segments, drift) on synthetic data.

Scale ``small``: 20,000 customers; ``full``: 100,000 and 1,000,000 customers; about 20 events
each over 400 days (tests/nightly_synth.py, generated in Spark). Inputs are written straight
to Delta (``events`` one file per event_date, ``identity_links``) — they are the fixture, not
what is measured. The nightly then runs cold: the churn model's training and holdout
snapshots (as_of − 2N, as_of − N) are built from the events, as on a new lakehouse; in steady
state they are read from ``features`` and the models stage is cheaper.
Bar (issue 5): 1M customers / 20M events in ≤ 15 min on the 2-core dev machine.
"""

from __future__ import annotations

import time
from datetime import date

from pipelines.catalog import Catalog
from pipelines.config import Conf, relocated
from pipelines.session import get_spark
from tests.benchmarks.measure import jvm_peak_rss_mb
from tests.nightly_support import nightly_conf
from tests.nightly_synth import synthetic_events, synthetic_links

AS_OF = date(2026, 9, 30)
SIZES = {"small": [20_000], "full": [100_000, 1_000_000]}
EVENTS_PER_CUSTOMER = 20


def _lakehouse(conf: Conf, root: str) -> Conf:
    """A scratch lakehouse per size, with the MLflow store, lock and models under it too."""
    return nightly_conf(relocated(conf, root), models={})


def _write_inputs(spark, conf: Conf, customers: int) -> int:
    catalog = Catalog(conf)
    events = synthetic_events(
        spark, customers, AS_OF, days=400, events_per_customer=EVENTS_PER_CUSTOMER, seed=11
    )
    (
        events.repartition("event_date")
        .write.format("delta")
        .mode("overwrite")
        .partitionBy("event_date")
        .save(catalog.path("events"))
    )
    links = synthetic_links(spark, customers, date(2025, 1, 1))
    links.write.format("delta").mode("overwrite").save(catalog.path("identity_links"))
    return spark.read.format("delta").load(catalog.path("events")).count()


def run(ctx) -> list[dict]:
    from jobs.nightly import run_nightly

    rows = []
    for customers in SIZES[ctx.scale]:
        conf = _lakehouse(ctx.conf, str(ctx.workdir / f"nightly-{customers}"))
        spark = get_spark(conf, "bench-nightly")
        start = time.perf_counter()
        events = _write_inputs(spark, conf, customers)
        setup = time.perf_counter() - start
        progress = run_nightly(spark, conf, AS_OF)
        rows.append(
            {
                "name": f"nightly_{customers // 1000}k_customers",
                "customers": customers,
                "events": events,
                "setup_s": round(setup, 1),
                **{f"{k}_s": round(v, 1) for k, v in progress.timings.items()},
                "nightly_s": round(sum(progress.timings.values()), 1),
                "jvm_peak_rss_mb": round(jvm_peak_rss_mb(spark)),
            }
        )
    return rows
