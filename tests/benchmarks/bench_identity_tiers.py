"""Issue 16: the two identity tiers on generated data with the mobile-app pattern.

Generates ``--customers`` people with ``MOBILE_APP_SHARE`` of registered people on the shop's
app and library PCs, ingests them (landing → events → strong links → probable links; no
profiles) and scores both tiers pairwise against the generator's truth
(pipelines/identity/evaluation.py), with the probable links at or above the serving threshold.
The bars (docs/identity.md, "Probable links"): strong precision 1.0 and strongly-linkable
recall >= 0.99; probable precision >= 0.97; recall with probable links >= 0.95; no family-tablet
or library-PC visitor attached to the wrong customer.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pipelines.config import relocated
from pipelines.identity import IdentityParams
from pipelines.identity.probable import ProbableParams, served
from pipelines.ingest.flow import run_ingest
from pipelines.ingest.sources import SOURCES
from pipelines.session import get_spark
from tests.benchmarks.measure import timer

SCALES = {"small": 20_000, "full": 100_000}
MOBILE_APP_SHARE = 0.5
LIBRARY_PC_SHARE = 0.005
FIGURES = (
    "precision", "recall", "recall_linkable", "recall_strongly_linkable", "probable_precision",
    "recall_with_probable", "recall_with_probable_raw", "probable_link_precision",
)


def run(ctx) -> list[dict]:
    from jobs.generate_data import main as generate
    from pipelines.catalog import Catalog
    from pipelines.identity.evaluation import score_events

    customers = SCALES[ctx.scale]
    conf = relocated(ctx.conf, str(ctx.workdir / f"tiers-{customers}"))
    generate(["--env", conf.env, "--customers", str(customers), "--quiet", "--workers", "2",
              "--out", conf.path("paths.landing"), "--truth", conf.path("paths.ground_truth"),
              "--mobile-app-share", str(MOBILE_APP_SHARE),
              "--library-pc-share", str(LIBRARY_PC_SHARE)])
    spark = get_spark(conf, "bench-identity-tiers")
    with timer() as total:
        report = run_ingest(spark, conf, list(SOURCES), datetime.now(UTC).replace(tzinfo=None),
                            echo=lambda _m: None, with_profiles=False)
    catalog = Catalog(conf)
    truth = conf.path("paths.ground_truth")
    params = ProbableParams.from_conf(conf)
    probable = spark.read.format("delta").load(catalog.path("identity_probable_links"))
    scores = score_events(
        spark.read.format("delta").load(catalog.path("events")),
        spark.read.format("delta").load(catalog.path("identity_links")),
        spark.read.parquet(f"{truth}/record_person"),
        spark.read.parquet(f"{truth}/identifier_person.parquet"),
        IdentityParams.from_conf(conf).max_anonymous_ids_per_device,
        probable=served(probable, params),
    )
    return [{
        "name": f"identity_tiers_{customers // 1000}k",
        "customers": customers,
        "mobile_app_share": MOBILE_APP_SHARE,
        "ingest_s": round(total["seconds"], 1),
        "probable_links_s": report.seconds.get("probable links"),
        "probable_links_stored": report.probable_links,
        "probable_links_served": scores["probable_links"],
        "wrong_on_shared_devices": scores["wrong_on_shared_devices"],
        "strong_wrong_pairs": scores["wrong_pairs"],
        "serving_threshold": params.serving_threshold,
        **{k: round(scores[k], 5) for k in FIGURES},
    }]
