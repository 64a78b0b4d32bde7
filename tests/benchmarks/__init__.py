"""Benchmarks (`make bench`): not collected by pytest; each module exposes ``run(ctx)``."""
