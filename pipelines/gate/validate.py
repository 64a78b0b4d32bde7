"""Run a suite with Great Expectations on a Spark DataFrame.

One ephemeral GX context per process: the suites live in this repository as JSON, so nothing
needs GX's file-backed project layout.

Two engines, one suite: GX's Spark engine runs a Spark job per metric, which costs about a
second per validation however small the batch; a small batch (a streaming micro-batch, a
merge of the touched profiles) is validated instead by GX's pandas engine on the suite's
columns collected to the driver (measured: ~40 ms). The expectations, and so the verdict, are
the same; the threshold is conf ``gate.local_validation_max_rows``.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pipelines.gate.suites import Suite

_lock = threading.Lock()
_state: dict[str, Any] = {}


@dataclass(frozen=True)
class ExpectationOutcome:
    label: str
    success: bool
    observed: Any
    unexpected_count: int | None


@dataclass(frozen=True)
class Validation:
    success: bool
    outcomes: tuple[ExpectationOutcome, ...]
    result_json: dict[str, Any]

    @property
    def failed(self) -> tuple[ExpectationOutcome, ...]:
        return tuple(o for o in self.outcomes if not o.success)


def preload() -> threading.Thread:
    """Import Great Expectations in a background thread and return it. The first import costs
    ~6 s of Python; a job that starts it before its JVM overlaps the two, instead of paying
    for it inside its first gated write (the stream's first micro-batch after a restart)."""
    thread = threading.Thread(target=_import_gx, name="gx-preload", daemon=True)
    thread.start()
    return thread


def _import_gx() -> None:
    # Only the import: building the context would register a Spark data source, which looks
    # for a session and must not race the job's own get_spark. No usage analytics: jobs must
    # not phone home (and cannot, on a closed network).
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations  # noqa: F401


def _batch_definition(engine: str):
    """The GX context and the whole-dataframe batch definition of ``engine`` (spark|pandas)."""
    _import_gx()
    import great_expectations as gx

    if "context" not in _state:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context = gx.get_context(mode="ephemeral")
        # Jobs print their own progress; GX's per-metric bars would drown it.
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        spark = context.data_sources.add_spark(name="profilake", persist=False)
        local = context.data_sources.add_pandas(name="profilake_local")
        _state["context"] = context
        _state["spark"] = spark.add_dataframe_asset(
            name="gated_write"
        ).add_batch_definition_whole_dataframe("whole")
        _state["pandas"] = local.add_dataframe_asset(
            name="gated_write"
        ).add_batch_definition_whole_dataframe("whole")
    return _state["context"], _state[engine]


def suite_columns(suite: Suite) -> list[str]:
    """The columns the suite's expectations read, in first-use order."""
    seen: dict[str, None] = {}
    for e in suite.expectations:
        for key in ("column", "column_A", "column_B"):
            if key in e.kwargs:
                seen[str(e.kwargs[key])] = None
        for c in e.kwargs.get("column_list", ()):
            seen[str(c)] = None
    return list(seen)


def _gx_suite(context, suite: Suite):
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    key = f"suite::{suite.name}"
    if key not in _state:
        expectations = [
            ExpectationConfiguration(type=e.type, kwargs=e.kwargs, meta=e.meta).to_domain_obj()
            for e in suite.expectations
        ]
        _state[key] = context.suites.add(
            gx.ExpectationSuite(name=suite.name, expectations=expectations)
        )
    return _state[key]


def validate(
    df: DataFrame, suite: Suite, *, rows: int | None = None, local_max_rows: int = 0
) -> Validation:
    """Validate ``df`` against every expectation of ``suite`` with GX.

    ``rows``: the row count when the caller knows it; with ``rows <= local_max_rows`` the
    pandas engine validates the suite's columns on the driver, else the Spark engine runs.
    """
    engine = "pandas" if rows is not None and rows <= local_max_rows else "spark"
    data = df
    if engine == "pandas":
        # A constant column keeps the row count when the suite names no column.
        data = df.select(*[F.col(f"`{c}`") for c in suite_columns(suite)] or [F.lit(1)]).toPandas()
    with _lock:  # the GX context is not thread-safe; streaming may call from several threads
        context, batch_definition = _batch_definition(engine)
        gx_suite = _gx_suite(context, suite)
        batch = batch_definition.get_batch(batch_parameters={"dataframe": data})
        result = batch.validate(gx_suite, result_format="SUMMARY")
    outcomes = []
    by_label = {e.type + str(sorted(e.kwargs.items())): e.label for e in suite.expectations}
    for r in result.results:
        config = r.expectation_config
        kwargs = {k: v for k, v in config.kwargs.items() if k != "batch_id"}
        label = by_label.get(config.type + str(sorted(kwargs.items())), config.type)
        outcomes.append(
            ExpectationOutcome(
                label=label,
                success=bool(r.success),
                observed=r.result.get("observed_value"),
                unexpected_count=r.result.get("unexpected_count"),
            )
        )
    return Validation(bool(result.success), tuple(outcomes), result.to_json_dict())
