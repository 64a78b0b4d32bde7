"""Nightly models: clustering, the churn model, its promotion gate, drift (docs/segments.md).

Training and scoring functions take DataFrames and return models or DataFrames; reading
tables, loading registered models and writing stay in the jobs (CONVENTIONS #12).
"""
