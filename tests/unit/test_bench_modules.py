"""Every benchmark ``make bench`` runs imports and has its ``run``: a helper renamed in one
benchmark module must fail here, not halfway through a benchmark run (``bench_hot`` failed
that way from e7eb1f2 until 2026-12-05)."""

from __future__ import annotations

import importlib
import json
import sys
import types

import pytest

from pipelines.config import ROOT_ENV
from tests.benchmarks import run
from tests.benchmarks.run import BENCHMARKS


@pytest.mark.parametrize("name", [*BENCHMARKS, "bench_soak"])
def test_a_benchmark_imports_and_has_its_run(name: str) -> None:
    module = importlib.import_module(f"tests.benchmarks.{name}")
    assert callable(module.run)


@pytest.mark.parametrize("name", ["profile_batch", "profile_ingest", "profile_layouts"])
def test_a_profiler_imports_and_has_its_main(name: str) -> None:
    module = importlib.import_module(f"tests.benchmarks.{name}")
    assert callable(module.main)


def test_a_failing_benchmark_is_recorded_and_the_others_still_run(
        tmp_path, monkeypatch, capsys) -> None:
    roots = []

    def fails(ctx):
        roots.append(ctx.workdir)
        raise RuntimeError("no broker")

    def works(ctx):
        roots.append(ctx.workdir)
        return [{"name": "fine", "seconds": 1.5}]

    for name, body in (("bench_zz_fails", fails), ("bench_zz_works", works)):
        monkeypatch.setitem(sys.modules, f"tests.benchmarks.{name}",
                            types.SimpleNamespace(run=body))
    monkeypatch.setenv(ROOT_ENV, str(tmp_path))
    code = run.main(["--env", "test", "--only", "bench_zz_fails", "bench_zz_works"])

    assert code == 1
    written = json.loads((tmp_path / "bench" / "latest.json").read_text())
    assert written["results"] == [
        {"name": "bench_zz_fails", "failed": "RuntimeError: no broker"},
        {"name": "fine", "seconds": 1.5},
    ]
    assert len(set(roots)) == 2  # a scratch lakehouse each
    assert "failed: bench_zz_fails" in capsys.readouterr().err


def test_the_stream_bench_lists_each_batch_in_order() -> None:
    from tests.benchmarks.bench_stream import _per_batch

    batches = [{"input_rows": 100000, "profiles_written": 62000, "step_s": {"a": 1.5, "b": 2}},
               {"input_rows": 1, "profiles_written": 0, "step_s": {}}]
    assert _per_batch(batches) == "100000/62000/3.5s; 1/0/0.0s"
