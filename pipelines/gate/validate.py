"""Run a suite with Great Expectations on a Spark DataFrame.

One ephemeral GX context per process: the suites live in this repository as JSON, so nothing
needs GX's file-backed project layout.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame

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


def _batch_definition():
    # No usage analytics: jobs must not phone home (and cannot, on a closed network).
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    if "batch_definition" not in _state:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context = gx.get_context(mode="ephemeral")
        # Jobs print their own progress; GX's per-metric bars would drown it.
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        asset = context.data_sources.add_spark(name="profilake", persist=False).add_dataframe_asset(
            name="gated_write"
        )
        _state["context"] = context
        _state["batch_definition"] = asset.add_batch_definition_whole_dataframe("whole")
    return _state["context"], _state["batch_definition"]


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


def validate(df: DataFrame, suite: Suite) -> Validation:
    """Validate ``df`` against every expectation of ``suite`` with GX."""
    with _lock:  # the GX context is not thread-safe; streaming may call from several threads
        context, batch_definition = _batch_definition()
        gx_suite = _gx_suite(context, suite)
        batch = batch_definition.get_batch(batch_parameters={"dataframe": df})
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
