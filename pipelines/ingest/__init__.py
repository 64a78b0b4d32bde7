"""Batch ingestion: landing files → bronze (raw) → silver canonical events (docs/sources.md)."""
