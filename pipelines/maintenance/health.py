"""The small-file health of one table, computed from its live files and its log (pure), and
the ``table_health`` row and printed line it becomes."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

from pyspark.sql.types import (
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from pipelines.maintenance.plan import DataFile

HEALTH_SCHEMA = StructType(
    [
        StructField("run_id", StringType(), False),
        StructField("measured_at", TimestampType(), False),
        StructField("table_name", StringType(), False),
        StructField("version", LongType(), False),
        StructField("files_before", LongType(), False),
        StructField("files", LongType(), False),
        StructField("partitions", LongType(), False),
        StructField("total_bytes", LongType(), False),
        StructField("avg_file_bytes", DoubleType(), True),
        StructField("median_file_bytes", DoubleType(), True),
        StructField("small_file_bytes", LongType(), False),
        StructField("small_files", LongType(), False),
        StructField("small_file_share", DoubleType(), True),
        StructField("last_checkpoint_version", LongType(), True),
        StructField("versions_since_checkpoint", LongType(), False),
        StructField("last_optimize_version", LongType(), True),
        StructField("versions_since_optimize", LongType(), True),
        StructField("actions", StringType(), False),
        StructField("status", StringType(), False),
    ]
)


@dataclass(frozen=True)
class TableHealth:
    run_id: str
    measured_at: datetime
    table_name: str
    version: int
    files_before: int
    files: int
    partitions: int
    total_bytes: int
    avg_file_bytes: float | None
    median_file_bytes: float | None
    small_file_bytes: int
    small_files: int
    small_file_share: float | None
    last_checkpoint_version: int | None
    versions_since_checkpoint: int
    last_optimize_version: int | None
    versions_since_optimize: int | None
    actions: str
    status: str

    def row(self) -> dict:
        return asdict(self)


def last_optimize(history: Sequence[tuple[int, str]]) -> int | None:
    """The latest version whose operation is OPTIMIZE among ``(version, operation)`` commits
    (None when none is left in the log's history)."""
    versions = [v for v, op in history if op == "OPTIMIZE"]
    return max(versions) if versions else None


def table_health(
    *,
    run_id: str,
    measured_at: datetime,
    table: str,
    version: int,
    files: Sequence[DataFile],
    files_before: int,
    small_file_bytes: int,
    checkpoint_version: int | None,
    history: Sequence[tuple[int, str]],
    actions: str,
    status: str,
) -> TableHealth:
    """Small-file health after maintenance (``files_before``: live files when it began): a
    file is small below ``small_file_bytes``; versions since the last
    checkpoint count from version -1 when the log has none (every commit is unchecked)."""
    sizes = [f.size for f in files]
    small = sum(s < small_file_bytes for s in sizes)
    optimized = last_optimize(history)
    return TableHealth(
        run_id=run_id,
        measured_at=measured_at,
        table_name=table,
        version=version,
        files_before=files_before,
        files=len(sizes),
        partitions=len({f.partition for f in files}),
        total_bytes=sum(sizes),
        avg_file_bytes=statistics.fmean(sizes) if sizes else None,
        median_file_bytes=float(statistics.median(sizes)) if sizes else None,
        small_file_bytes=small_file_bytes,
        small_files=small,
        small_file_share=small / len(sizes) if sizes else None,
        last_checkpoint_version=checkpoint_version,
        versions_since_checkpoint=version - (-1 if checkpoint_version is None else
                                             checkpoint_version),
        last_optimize_version=optimized,
        versions_since_optimize=None if optimized is None else version - optimized,
        actions=actions,
        status=status,
    )


def _size(n: float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


COLUMNS = ("table", "version", "files before", "files", "total", "avg", "median", "small",
           "since ckpt", "since opt", "status", "actions")


def health_table(rows: Sequence[TableHealth]) -> str:
    """The report as an aligned text table, one line per table."""
    lines = [COLUMNS]
    for h in rows:
        lines.append((
            h.table_name, str(h.version), str(h.files_before), str(h.files), _size(h.total_bytes),
            _size(h.avg_file_bytes), _size(h.median_file_bytes),
            "-" if h.small_file_share is None else f"{h.small_file_share:.0%}",
            str(h.versions_since_checkpoint),
            "-" if h.versions_since_optimize is None else str(h.versions_since_optimize),
            h.status, h.actions,
        ))
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line[:-1], widths, strict=True))
        + "  " + line[-1]
        for line in lines
    )
