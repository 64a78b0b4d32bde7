"""Segments per profile per as_of: rule segments (conf/segments.yaml) with hysteresis, the
cluster name, the churn score and band (docs/segments.md)."""
