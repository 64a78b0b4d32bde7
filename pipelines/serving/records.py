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
# Export columns the hot lane needs besides the document: the base's folded state (JSON, the
# wire form of pipelines/profiles/state_local.py, plus nightly segments) and the Kafka offsets
# the base covers (pipelines/hot/overlay.py). Records carry them under these keys; they are
# never part of the served document.
BASE_STATE = "base_state"
COVERED_OFFSETS = "covered_offsets"
BASE, COVERED = "_base", "_covered"


def export_records(export: DataFrame) -> Iterator[dict[str, Any]]:
    """Stream the export rows' documents to the driver as dicts, one partition at a time, with
    the base state and covered offsets (``BASE``, ``COVERED``) when the export has them."""
    extra = [c for c in (BASE_STATE, COVERED_OFFSETS) if c in export.columns]
    # Through the RDD, not DataFrame.toLocalIterator: that one ends its SQL execution before
    # its serving thread runs the partitions' jobs under that execution's id, and Spark 4.2's
    # scheduler keeps such jobs (with their plans, broadcasts and cached relations) until the
    # application ends — one per micro-batch in the stream (docs/performance.md, "Jobs Spark
    # never forgot"). The RDD's jobs run under the caller's execution, if any.
    for row in export.select(DOCUMENT, *extra).rdd.toLocalIterator():
        record = json.loads(row[0])
        if extra:
            record[BASE] = row[BASE_STATE] if BASE_STATE in extra else None
            record[COVERED] = row[COVERED_OFFSETS] if COVERED_OFFSETS in extra else None
        yield record


def epoch_s(iso: str | None) -> float | None:
    if not iso:
        return None
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def payload(record: Mapping[str, Any]) -> bytes:
    """The served document: the record without the hot lane's ``BASE`` and ``COVERED``."""
    doc = {k: v for k, v in record.items() if k not in (BASE, COVERED)}
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def ident_suffixes(record: Mapping[str, Any]) -> list[str]:
    """``type:value`` of every published lookup identifier (hash for hashed types)."""
    ids = record.get("lookup_ids") or {}
    return sorted(f"{t}:{v}" for t, values in ids.items() for v in (values or []))
