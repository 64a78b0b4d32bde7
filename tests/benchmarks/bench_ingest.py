"""Issue 3: generate → ingest → identity → profiles at increasing scale.

Reports wall time per stage, records/s, peak memory (driver JVM and Python) and the pairwise
same-person precision/recall of identity resolution against the generator's ground truth
(``quality_s``: the scoring's own time, outside ``total_s``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from pipelines.config import Conf, relocated
from pipelines.identity import IdentityParams
from pipelines.ingest.flow import run_ingest
from pipelines.ingest.sources import SOURCES
from pipelines.session import get_spark
from tests.benchmarks.measure import jvm_peak_rss_mb, python_peak_rss_mb, timer

SCALES = {"small": [20_000], "full": [100_000, 1_000_000]}


def _conf_for(ctx, customers: int) -> Conf:
    return relocated(ctx.conf, str(ctx.workdir / f"ingest-{customers}"))


def _quality(spark, conf: Conf) -> dict:
    """Pairwise same-person precision, raw recall and recall on the pairs the data can link,
    against the generator's truth (pipelines/identity/evaluation.py)."""
    from pipelines.catalog import Catalog
    from pipelines.identity.evaluation import score_events

    catalog = Catalog(conf)
    truth = conf.path("paths.ground_truth")
    scores = score_events(
        spark.read.format("delta").load(catalog.path("events")),
        spark.read.format("delta").load(catalog.path("identity_links")),
        spark.read.parquet(f"{truth}/record_person"),
        spark.read.parquet(f"{truth}/identifier_person.parquet"),
        IdentityParams.from_conf(conf).max_anonymous_ids_per_device,
    )
    return {k: round(scores[k], 5)
            for k in ("precision", "wrong_pairs", "recall", "recall_linkable",
                      "recall_strongly_linkable", "normalization_match")}


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
        # Source records, not bronze rows: a social bronze row is a file of many mentions.
        records = sum(report.records.values())
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
        }
        with timer() as scoring:
            row |= _quality(spark, conf)
        row["quality_s"] = round(scoring["seconds"], 1)
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
