"""Does the tables' file layout change what a small micro-batch costs? One seeded lakehouse,
copied once per variant; the same batches run through ``process_batch`` on each copy, and each
table's MERGE times are read back from its Delta log (``operationMetrics.executionTimeMs``).

Not a benchmark (``make bench`` measures the job as its own process): a profiler for issue 12,
like ``profile_batch``, whose generated records and batch context it shares. Variants:

- ``plain``: the tables as the seed batch wrote them;
- ``dv``: deletion vectors on ``profiles`` and ``identity_links`` (the two tables only Spark
  reads: delta-rs reads the export and its index, and cannot apply deletion vectors);
- ``small``: ``profiles``, ``identity_links``, ``chatbot_export`` and ``chatbot_identifiers``
  rewritten in files of ``--rows-per-file`` rows, and every later write capped so
  (``spark.sql.files.maxRecordsPerFile``).

The JVM warms up over the run (the same variant's batches got ~30% faster an hour in), so
list variants interleaved and compare neighbours: ``plain,small,plain,small,plain``.

    python -m tests.benchmarks.profile_layouts --customers 100000 --seed-records 200000 \
        --variants plain,small,plain,small,plain --batches 1,1,1,3000
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

from pyspark.sql import SparkSession

from pipelines.catalog import Catalog
from pipelines.config import load_conf, overridden, relocated
from pipelines.session import get_spark
from pipelines.stream.microbatch import StreamContext, _choose_codegen, process_batch
from pipelines.stream.settings import stream_conf
from tests.benchmarks.profile_batch import KAFKA_ROW, batches_alone, kafka_records

VARIANTS = ("plain", "dv", "small")
SPARK_ONLY = ("profiles", "identity_links")
MERGED = ("profiles", "identity_links", "chatbot_export", "chatbot_identifiers")
MAX_RECORDS = "spark.sql.files.maxRecordsPerFile"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--customers", type=int, default=5000)
    p.add_argument("--seed-records", type=int, default=20000)
    p.add_argument("--variants", default="plain,small,plain",
                   help=f"comma-separated, each one of {', '.join(VARIANTS)}")
    p.add_argument("--batches", default="1,1,1",
                   help="records in each batch after the seed, comma-separated")
    p.add_argument("--rows-per-file", type=int, default=2000)
    p.add_argument("--dir", help="scratch directory; a seed already in it is reused")
    args = p.parse_args(argv)
    variants = args.variants.split(",")
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        p.error(f"unknown variant(s) {', '.join(unknown)}: {', '.join(VARIANTS)}")
    sizes = [int(n) for n in args.batches.split(",")]
    root = Path(args.dir or tempfile.mkdtemp(prefix="profilake-layouts-"))
    base = stream_conf(relocated(load_conf("local"), str(root / "seed")))
    spark = get_spark(base, "profilake-profile-layouts")
    records = kafka_records(args.customers)
    seed = [next(records) for _ in range(args.seed_records)]  # the same batches after it
    if not Path(Catalog(base).path("profiles")).exists():
        _run(spark, batches_alone(overridden(base, {"cache.prefix": "layouts-seed"})), 0,
             seed, "seed")
    del seed
    batches = [[next(records) for _ in range(n)] for n in sizes]
    for i, variant in enumerate(variants):
        where = root / f"{i}-{variant}"
        shutil.rmtree(where, ignore_errors=True)
        shutil.copytree(root / "seed", where)
        conf = overridden(relocated(base, str(where)), {"cache.prefix": f"layouts-{i}"})
        ctx = batches_alone(conf)
        _lay_out(spark, ctx.catalog, variant, args.rows_per_file)
        seeded = {t: _commits(ctx.catalog.path(t)) for t in MERGED}
        for batch_id, batch in enumerate(batches, start=1):
            _run(spark, ctx, batch_id, batch, f"{i}-{variant}")
        print(json.dumps({"variant": f"{i}-{variant}",
                          "merge_ms": {t: merge_times(ctx.catalog.path(t), seeded[t])
                                       for t in MERGED}}),
              flush=True)
    spark.stop()


def _lay_out(spark: SparkSession, catalog: Catalog, variant: str, rows_per_file: int) -> None:
    spark.conf.set(MAX_RECORDS, str(rows_per_file) if variant == "small" else "0")
    if variant == "dv":
        for table in SPARK_ONLY:
            spark.sql(f"ALTER TABLE delta.`{catalog.path(table)}` SET TBLPROPERTIES "
                      "(delta.enableDeletionVectors = true)")
    elif variant == "small":
        for table in MERGED:
            path = catalog.path(table)
            (spark.read.format("delta").load(path).write.format("delta").mode("overwrite")
             .option("dataChange", "false").save(path))


def _run(spark: SparkSession, ctx: StreamContext, batch_id: int, batch: list[tuple],
         label: str) -> None:
    _choose_codegen(spark, ctx, len(batch))
    started = time.perf_counter()
    metrics = process_batch(spark.createDataFrame(batch, KAFKA_ROW), batch_id, ctx)
    print(json.dumps({"variant": label, "batch": batch_id, "records": len(batch),
                      "s": round(time.perf_counter() - started, 2),
                      "steps": metrics["step_s"]}), flush=True)


def _commits(table_path: str) -> list[Path]:
    return sorted((Path(table_path) / "_delta_log").glob("*.json"))


def merge_times(table_path: str, before: list[Path]) -> list[str]:
    """``<source rows>:<ms>`` of each MERGE the table's log gained since ``before``."""
    times = []
    for commit in _commits(table_path)[len(before):]:
        for line in commit.read_text().splitlines():
            info = json.loads(line).get("commitInfo")
            if info and info.get("operation") == "MERGE":
                m = info.get("operationMetrics", {})
                times.append(f"{m.get('numSourceRows')}:{m.get('executionTimeMs')}")
    return times


if __name__ == "__main__":
    main()
