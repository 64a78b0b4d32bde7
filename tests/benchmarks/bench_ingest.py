"""Issue 3: generate → ingest → identity → profiles at increasing scale.

Reports wall time per stage, records/s, peak memory (driver JVM and Python) and the pairwise
same-person precision/recall of identity resolution against the generator's ground truth.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from pyspark.sql import functions as F

from pipelines.config import Conf, relocated
from pipelines.identity.quality import pairwise_precision_recall
from pipelines.ingest.flow import run_ingest
from pipelines.ingest.sources import SOURCES
from pipelines.profiles.build import events_with_profiles
from pipelines.session import get_spark
from tests.benchmarks.measure import jvm_peak_rss_mb, python_peak_rss_mb, timer

SCALES = {"small": [20_000], "full": [100_000, 1_000_000]}


def _conf_for(ctx, customers: int) -> Conf:
    return relocated(ctx.conf, str(ctx.workdir / f"ingest-{customers}"))


def _quality(spark, conf: Conf) -> dict:
    from pipelines.catalog import Catalog

    catalog = Catalog(conf)
    events = spark.read.format("delta").load(catalog.path("events"))
    links = spark.read.format("delta").load(catalog.path("identity_links"))
    assigned, unassigned = events_with_profiles(events, links)
    key = F.split("origin", "#")[1]
    source = F.when(F.col("source") == "support", "tickets").otherwise(F.col("source"))
    predicted = assigned.select(
        key.alias("record_key"), source.alias("source"), "profile_id"
    ).unionByName(
        unassigned.select(
            key.alias("record_key"),
            source.alias("source"),
            F.concat(F.lit("none:"), "event_id").alias("profile_id"),
        )
    )
    truth = spark.read.parquet(f"{conf.path('paths.ground_truth')}/record_person")
    both = predicted.join(
        truth.select("source", "record_key", "person_id"), ["source", "record_key"]
    ).where("person_id IS NOT NULL")
    scores = pairwise_precision_recall(
        both.select(F.concat_ws("/", "source", "record_key").alias("record_id"), "profile_id"),
        both.select(F.concat_ws("/", "source", "record_key").alias("record_id"), "person_id"),
    )
    return {"precision": round(scores["precision"], 5), "recall": round(scores["recall"], 5)}


def run(ctx) -> list[dict]:
    from jobs.generate_data import main as generate

    rows = []
    for customers in SCALES[ctx.scale]:
        conf = _conf_for(ctx, customers)
        with timer() as gen:
            generate(
                [
                    "--env",
                    conf.env,
                    "--customers",
                    str(customers),
                    "--out",
                    conf.path("paths.landing"),
                    "--truth",
                    conf.path("paths.ground_truth"),
                    "--quiet",
                    "--workers",
                    "2",
                ]
            )
        manifest = json.loads(
            next(Path(conf.path("paths.ground_truth"), "manifests").glob("*.json")).read_text()
        )
        spark = get_spark(conf, "bench-ingest")
        now = datetime.now(UTC).replace(tzinfo=None)
        with timer() as total:
            report = run_ingest(spark, conf, list(SOURCES), now, echo=lambda _m: None)
        records = sum(report.bronze_rows.values())
        row = {
            "name": f"ingest_identity_profiles_{customers // 1000}k",
            "customers": customers,
            "records": records,
            "generate_s": round(gen["seconds"], 1),
            **{f"{k.split(' ')[0]}_s": v for k, v in report.seconds.items()},
            "total_s": round(total["seconds"], 1),
            "records_per_s": round(records / total["seconds"]),
            "profiles": report.profiles,
            "merges": report.merges,
            "jvm_peak_rss_mb": round(jvm_peak_rss_mb(spark)),
            "python_peak_rss_mb": round(python_peak_rss_mb()),
            "generator_counts": manifest.get("counts", {}),
            **_quality(spark, conf),
        }
        rows.append(row)
    if len(rows) == 2:
        rows.append(
            {
                "name": "ingest_growth_100k_to_1m",
                "time_ratio": round(rows[1]["total_s"] / rows[0]["total_s"], 2),
                "records_ratio": round(rows[1]["records"] / rows[0]["records"], 2),
            }
        )
    return rows
