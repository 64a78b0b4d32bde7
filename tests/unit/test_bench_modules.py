"""Every benchmark ``make bench`` runs imports and has its ``run``: a helper renamed in one
benchmark module must fail here, not halfway through a benchmark run (``bench_hot`` failed
that way from e7eb1f2 until 2026-12-05)."""

from __future__ import annotations

import importlib

import pytest

from tests.benchmarks.run import BENCHMARKS


@pytest.mark.parametrize("name", [*BENCHMARKS, "bench_soak"])
def test_a_benchmark_imports_and_has_its_run(name: str) -> None:
    module = importlib.import_module(f"tests.benchmarks.{name}")
    assert callable(module.run)
