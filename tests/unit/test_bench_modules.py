"""Every benchmark ``make bench`` runs imports and has its ``run``: a helper renamed in one
benchmark module must fail here, not halfway through a benchmark run (``bench_hot`` failed
that way from e7eb1f2 until 2026-12-05)."""

from __future__ import annotations

import importlib
import json
import math
import random
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


def _records_taken(cap: int, sizes: list[int]) -> int:
    """What Spark's Kafka source takes in one micro-batch of a backlog split over partitions
    as ``sizes`` (``KafkaMicroBatchStream.rateLimit``): each partition its prorated share of
    the cap, floored (ceiled below one record), at most what it holds."""
    total = float(sum(sizes))
    taken = 0
    for size in sizes:
        prorate = cap * (size / total)
        taken += min(size, math.ceil(prorate) if prorate < 1 else math.floor(prorate))
    return taken


def test_a_backlog_within_the_cap_is_taken_in_one_batch() -> None:
    from tests.benchmarks.bench_stream import whole_backlog_cap

    # The split the rule loses a record on, with the cap equal to the backlog:
    # 200000 * (50123 / 200000) is 50122.99999999999 in floating point.
    uneven = [49876, 50123, 50010, 49991]
    assert _records_taken(200_000, uneven) == 199_999
    assert _records_taken(whole_backlog_cap(200_000, 200_000, 4), uneven) == 200_000
    rng = random.Random(7)
    for _ in range(2000):
        cuts = sorted(rng.sample(range(1, 200_000), 3))
        sizes = [b - a for a, b in zip([0, *cuts], [*cuts, 200_000], strict=True)]
        assert _records_taken(whole_backlog_cap(200_000, 200_000, 4), sizes) == 200_000
    # Small backlogs keep the stream's own cap; larger ones too (their batches are capped).
    assert whole_backlog_cap(200_000, 30_000, 4) == 200_000
    assert whole_backlog_cap(200_000, 500_000, 4) == 200_000
