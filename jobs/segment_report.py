"""Print segment sizes and a few customers, and write the segment report (HTML + PNGs).

    python -m jobs.segment_report                      # latest as_of in the segments table
    python -m jobs.segment_report --as-of 2026-10-01

The report goes to ``nightly.reports_dir``/segments-<as_of>/index.html. The demo calls
``run(spark, conf)``.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pipelines.catalog import Catalog
from pipelines.config import Conf, load_conf
from pipelines.nightly import io
from pipelines.nightly.cli import parser
from pipelines.reports.segments import print_summary, summarize, write_report
from pipelines.session import get_spark
from pipelines.tracking import tracking_uri


def mlflow_hint(conf: Conf, as_of: date) -> str:
    """Where the as_of's MLflow runs are, and how to look at them."""
    import mlflow

    from pipelines.tracking import configure_mlflow

    experiment_id = configure_mlflow(conf)
    found = mlflow.search_runs(
        [experiment_id],
        filter_string=f"tags.as_of = '{as_of.isoformat()}'",
        order_by=["attributes.start_time DESC"],
        output_format="list",
    )
    latest: dict[str, str] = {}
    for r in found:
        latest.setdefault(r.data.tags.get("stage", "?"), r.info.run_id)
    listed = ", ".join(f"{stage} {rid}" for stage, rid in sorted(latest.items())) or "none"
    return (
        f"MLflow: experiment '{conf.get('mlflow.experiment')}' (id {experiment_id}) at "
        f"{tracking_uri(conf)}; runs for {as_of}: {listed}. Browse with `make mlflow-ui` "
        f"(port {conf.get('mlflow.ui_port')})."
    )


def run(spark: SparkSession, conf: Conf, as_of: date | None = None, examples: int = 5) -> Path:
    """Print the summary of ``as_of`` (default: the latest) and write the report; returns the
    HTML path."""
    catalog = Catalog(conf)
    if as_of is None:
        as_of = io.read(spark, catalog, "segments").agg(F.max("as_of")).first()[0]
        if as_of is None:
            raise RuntimeError("the segments table is empty: run jobs/nightly.py first")
    segments = io.read_partition(spark, catalog, "segments", as_of)
    features = io.read_partition(spark, catalog, "features", as_of)
    if segments is None or features is None:
        raise RuntimeError(f"no segments/features for {as_of}: run jobs/nightly.py first")
    summary = summarize(segments, features, examples)
    hint = mlflow_hint(conf, as_of)
    print_summary(summary, hint)
    path = write_report(summary, Path(conf.path("nightly.reports_dir")) / f"segments-{as_of}", hint)
    print(f"\nSegment report: {path}")
    return path


def main(argv: list[str] | None = None) -> None:
    args = parser(__doc__).parse_args(argv)
    conf = load_conf(args.env)
    run(get_spark(conf, "profilake-segment-report"), conf, args.as_of)


if __name__ == "__main__":
    main()
