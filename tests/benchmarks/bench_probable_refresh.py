"""The stream's probable-tier refresh (``refresh_probable(incremental=True)``) as the event log
grows.

The stream refreshes the tier every ``streaming.probable_refresh_s`` from what changed since the
last refresh; a refresh's cost must follow the change, not the log, which grows for as long as
the platform runs. For each log size: a log of browsing and logins on shared devices, the strong
links of its customers and cookies, the tier computed whole (not timed); then, REFRESHES times,
BATCH new events appended and MOVED cookie links repointed, and the refresh timed.
"""

from __future__ import annotations

import statistics
from datetime import datetime

from pyspark.sql import functions as F

from pipelines.catalog import Catalog
from pipelines.config import relocated
from pipelines.gate.delta_io import ensure_table, write_delta
from pipelines.identity.params import IdentityParams
from pipelines.identity.probable import ProbableParams
from pipelines.identity.probable_refresh import refresh_probable
from pipelines.identity.schemas import LINKS
from pipelines.schemas.canonical import EVENT_LOG
from pipelines.schemas.events import IDENTIFIERS, PROPERTIES
from pipelines.session import get_spark
from pipelines.stream.settings import stream_conf
from tests.benchmarks.measure import timer

SIZES = {"small": (50_000, 400_000), "full": (50_000, 400_000, 2_000_000)}
BATCH, MOVED, REFRESHES, WARMUP = 3_000, 20, 3, 10_000
EVENTS_PER_DEVICE = 20
NOW = datetime(2026, 12, 5)


def _identifiers(id_col):
    """device d = id / 20; cookie one of three per device (70 % of records); the device's
    customer (two devices each) on 30 %."""
    device = (id_col / EVENTS_PER_DEVICE).cast("long")
    values = {
        "device_id": F.concat(F.lit("d"), device.cast("string")),
        "anonymous_id": F.when(id_col % 10 < 7, F.concat(
            F.lit("a"), device.cast("string"), F.lit("-"), (id_col % 3).cast("string"))),
        "customer_id": F.when(id_col % 10 >= 7, F.concat(
            F.lit("C"), (device / 2).cast("long").cast("string"))),
    }
    return F.struct(*[values.get(f.name, F.lit(None)).cast(f.dataType).alias(f.name)
                      for f in IDENTIFIERS.fields])


def _events(spark, start: int, n: int):
    ids = F.col("id")
    props = {"sku": F.concat(F.lit("S"), (ids % 500).cast("string")),
             "category": F.element_at(F.array(*[F.lit(c) for c in ("shoes", "toys", "books")]),
                                      (ids % 3 + 1).cast("int"))}
    at = (F.lit(1_780_000_000) + ids).cast("timestamp")
    columns = {
        "event_id": F.concat(F.lit("e"), ids.cast("string")),
        "event_type": F.when(ids % 10 >= 7, F.lit("login")).otherwise(F.lit("product_view")),
        "event_time": at, "source": F.lit("web"), "identifiers": _identifiers(ids),
        "properties": F.struct(*[props.get(f.name, F.lit(None)).cast(f.dataType).alias(f.name)
                                 for f in PROPERTIES.fields]),
        "event_date": F.to_date(at),
    }
    return spark.range(start, start + n).select(
        *[columns.get(f.name, F.lit(None)).cast(f.dataType).alias(f.name)
          for f in EVENT_LOG.fields])


def _links(devices, moved: bool = False):
    """Strong links of the cookies of ``devices`` (one column ``id``) and, unless ``moved``,
    of their customers; ``moved``: the cookies repointed to new profiles."""
    d = F.col("id").cast("string")
    rows = devices.select(F.explode(F.array(*[F.lit(i) for i in range(3)])).alias("k"),
                          "id").select(
        F.lit("anonymous_id").alias("id_type"),
        F.concat(F.lit("a"), d, F.lit("-"), F.col("k").cast("string")).alias("id_value"),
        F.concat(F.lit("p_a"), d, F.lit("-"), F.col("k").cast("string"),
                 F.lit("-moved" if moved else "")).alias("profile_id"))
    if not moved:
        rows = rows.unionByName(devices.where(F.col("id") % 2 == 0).select(
            F.lit("customer_id").alias("id_type"),
            F.concat(F.lit("C"), (F.col("id") / 2).cast("long").cast("string")).alias("id_value"),
            F.concat(F.lit("p_c"), (F.col("id") / 2).cast("long").cast("string"))
            .alias("profile_id")))
    return rows.select(*[(F.col(f.name) if f.name in rows.columns else F.lit(None))
                         .cast(f.dataType).alias(f.name) for f in LINKS.fields])


def _timed_refreshes(spark, catalog: Catalog, size: int) -> tuple[list[float], int]:
    """(seconds of each incremental refresh, probable links after the last) on a log of
    ``size`` events."""
    identity, params = IdentityParams(), ProbableParams()
    write_delta(_events(spark, 0, size), catalog.table("events"), "append")
    links = _links(spark.range(size // EVENTS_PER_DEVICE))
    ensure_table(links, catalog.table("identity_links"))
    write_delta(links, catalog.table("identity_links"), "merge", merge_on=["id_type", "id_value"])
    refresh_probable(spark, catalog, identity, params, NOW, incremental=True)
    seconds, logged, done = [], size, None
    for i in range(REFRESHES):
        write_delta(_events(spark, logged, BATCH), catalog.table("events"), "append")
        write_delta(_links(spark.range(i * MOVED, (i + 1) * MOVED), moved=True),
                    catalog.table("identity_links"), "merge", merge_on=["id_type", "id_value"])
        logged += BATCH
        with timer() as t:
            done = refresh_probable(spark, catalog, identity, params, NOW, incremental=True)
        if done is None or done.whole:
            raise RuntimeError(f"refresh at {size} events was not incremental: {done}")
        seconds.append(t["seconds"])
    return seconds, done.links


def run(ctx) -> list[dict]:
    spark = get_spark(stream_conf(ctx.conf), "bench")

    def catalog(name: str) -> Catalog:
        return Catalog(relocated(ctx.conf, str(ctx.workdir / name)))

    _timed_refreshes(spark, catalog("probable_warmup"), WARMUP)  # JIT and code paths, unreported
    rows = []
    for size in SIZES[ctx.scale]:
        seconds, links = _timed_refreshes(spark, catalog(f"probable_{size}"), size)
        rows.append({"name": f"probable_refresh_log_{size}", "logged_events": size,
                     "batch_events": BATCH, "moved_links": MOVED,
                     "median_s": round(statistics.median(seconds), 3),
                     "first_s": round(seconds[0], 3), "probable_links": links})
    return rows
