"""Run a suite with Great Expectations on a Spark DataFrame.

One ephemeral GX context per process: the suites live in this repository as JSON, so nothing
needs GX's file-backed project layout.

Two engines, one suite: GX's Spark engine runs a Spark job per metric, which costs about a
second per validation however small the batch; a small batch (a streaming micro-batch, a
merge of the touched profiles) is validated instead by GX's pandas engine on the suite's
columns collected to the driver (measured: ~40 ms). The expectations, and so the verdict, are
the same; the threshold is conf ``gate.local_validation_max_rows``. A column the suite only
checks for nulls travels to the driver as a flag (null stays null, any value becomes true):
GX reads nothing else of it, and a map or a JSON document would cost more to convert to Python
objects than the whole validation (docs/performance.md, "Null checks collect a flag").
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from pipelines.gate.suites import Suite

# Expectations that read only whether each value is null.
NULLNESS_ONLY = frozenset(
    {"expect_column_values_to_not_be_null", "expect_column_values_to_be_null"}
)
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


def _columns_of(kwargs: dict[str, Any]) -> list[str]:
    named = [str(kwargs[k]) for k in ("column", "column_A", "column_B") if k in kwargs]
    return named + [str(c) for c in kwargs.get("column_list", ())]


def _local_columns(suite: Suite) -> list[Column]:
    """What the pandas engine collects: the columns the suite reads, in first-use order, each
    as a null flag when every expectation reading it only checks nulls."""
    readers: dict[str, set[str]] = {}
    for e in suite.expectations:
        for c in _columns_of(e.kwargs):
            readers.setdefault(c, set()).add(e.type)
    return [
        F.when(F.col(f"`{c}`").isNotNull(), F.lit(True)).alias(c)
        if types <= NULLNESS_ONLY else F.col(f"`{c}`")
        for c, types in readers.items()
    ]


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
        data = df.select(*_local_columns(suite) or [F.lit(1)]).toPandas()
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
