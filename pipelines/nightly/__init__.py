"""Plumbing shared by the nightly jobs: the run lock, progress output, date arguments and
table access through the catalog. The logic they run lives in pipelines.features,
pipelines.segments and pipelines.models."""
