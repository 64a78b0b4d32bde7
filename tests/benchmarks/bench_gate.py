"""Gate overhead: the same rows written straight to Delta vs through ``gated_write``."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import functions as F

from pipelines.catalog import Catalog
from pipelines.config import Conf
from pipelines.gate import gated_write
from pipelines.session import get_spark
from tests.benchmarks.measure import timer

SUITE = Path(__file__).parent / "suites" / "bench_rows.json"


def _rows(spark, n: int):
    # 1% of rows fail a row-level expectation, as real batches do.
    return spark.range(n).select(
        F.col("id").cast("string").alias("id"),
        F.when(F.col("id") % 100 == 0, F.lit("broken"))
        .otherwise(F.concat(F.lit("u"), F.col("id").cast("string"), F.lit("@example.org")))
        .alias("email"),
        (F.col("id") % 997).cast("double").alias("amount"),
        F.element_at(
            F.array(F.lit("free"), F.lit("standard"), F.lit("premium")),
            (F.col("id") % 3 + 1).cast("int"),
        ).alias("tier"),
    )


def run(ctx) -> list[dict]:
    data = ctx.conf.to_dict()
    data["catalog"]["bench_rows"] = {"path": "bench_rows", "suite": str(SUITE)}
    conf = Conf(data, ctx.conf.env, ctx.conf.files, ctx.conf.project_dir)
    catalog = Catalog(conf)
    spark = get_spark(conf, "bench")
    n = int(conf.get("bench.gate_rows"))
    df = _rows(spark, n).cache()
    df.count()
    gated_write(catalog, df.limit(1000), "bench_rows")  # warm GX and Delta code paths
    with timer() as plain:
        df.write.format("delta").mode("append").save(str(ctx.workdir / "plain_rows"))
    with timer() as gated:
        report = gated_write(catalog, df, "bench_rows")
    df.unpersist()
    return [
        {
            "name": "gate_overhead",
            "rows": n,
            "plain_write_s": round(plain["seconds"], 2),
            "gated_write_s": round(gated["seconds"], 2),
            "overhead_s": round(gated["seconds"] - plain["seconds"], 2),
            "gated_rows_per_s": round(n / gated["seconds"]),
            "quarantined": report.rows_quarantined,
        }
    ]
