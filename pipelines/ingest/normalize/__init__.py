"""Per-source normalization: raw landing rows → canonical events (one module per source)."""
