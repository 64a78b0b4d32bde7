"""Export rows as JSON documents: the one shape the cache stores and the API returns.

``build_export`` renders each row once, in Spark, into its ``document`` column (timestamps
ISO-8601 UTC with milliseconds, every published field present, null when empty). The cache
stores that document; the Delta fallback reads it back from the export table.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the API imports this module and must not need pyspark
    from pyspark.sql import DataFrame

DOCUMENT = "document"


def export_records(export: DataFrame) -> Iterator[dict[str, Any]]:
    """Stream the export rows' documents to the driver as dicts, one partition at a time."""
    for row in export.select(DOCUMENT).toLocalIterator():
        yield json.loads(row[0])


def epoch_s(iso: str | None) -> float | None:
    if not iso:
        return None
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def payload(record: Mapping[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def ident_suffixes(record: Mapping[str, Any]) -> list[str]:
    """``type:value`` of every published lookup identifier (hash for hashed types)."""
    ids = record.get("lookup_ids") or {}
    return sorted(f"{t}:{v}" for t, values in ids.items() for v in (values or []))
