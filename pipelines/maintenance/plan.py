"""What to run on one table, decided from its current file listing (pure).

Compaction rule: a partition (the whole table when unpartitioned) is compacted when it holds at
least ``min_small_files`` files smaller than the table's small-file size. Delta's bin-packing
OPTIMIZE would skip a partition with nothing to merge by itself, but Z-ORDER BY in Delta 4.4
rewrites every file of every partition it is given, every time (no ZCube tags are kept to
tell which files are already ordered); choosing the partitions here is what makes a second run
with nothing new a no-op for both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pipelines.maintenance.params import TableRules

Partition = tuple[tuple[str, str | None], ...]  # ((column, value), …) as Delta stores them


@dataclass(frozen=True)
class DataFile:
    """One live file of the table's snapshot (an AddFile)."""

    path: str
    size: int
    partition: Partition = ()


@dataclass(frozen=True)
class OptimizePlan:
    partitions: tuple[Partition, ...] = ()
    zorder_by: tuple[str, ...] = ()
    files_in_scope: int = 0

    @property
    def needed(self) -> bool:
        return bool(self.partitions)

    def describe(self) -> str:
        if not self.needed:
            return "nothing to compact"
        how = f"zorder({', '.join(self.zorder_by)})" if self.zorder_by else "bin-pack"
        where = "table" if self.partitions == ((),) else f"{len(self.partitions)} partition(s)"
        return f"optimize {how} {where}, {self.files_in_scope} files"


@dataclass(frozen=True)
class TablePlan:
    table: str
    optimize: OptimizePlan = field(default_factory=OptimizePlan)
    retention_hours: float = 0.0


def partition_of(values: Mapping[str, str | None], columns: Sequence[str]) -> Partition:
    return tuple((c, values.get(c)) for c in columns)


def plan_optimize(
    files: Sequence[DataFile], rules: TableRules, min_small_files: int
) -> OptimizePlan:
    """The partitions to compact (see the module rule), Z-ordered by ``rules.zorder_by``."""
    by_partition: dict[Partition, list[DataFile]] = {}
    for f in files:
        by_partition.setdefault(f.partition, []).append(f)
    chosen = sorted(
        (
            p
            for p, fs in by_partition.items()
            if sum(f.size < rules.small_file_bytes for f in fs) >= min_small_files
        ),
        key=lambda p: tuple((c, v is None, v or "") for c, v in p),
    )
    return OptimizePlan(
        partitions=tuple(chosen),
        zorder_by=rules.zorder_by if chosen else (),
        files_in_scope=sum(len(by_partition[p]) for p in chosen),
    )


def _literal(value: str) -> str:
    # Spark SQL string literals take backslash escapes: escape those first, then quotes.
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def partition_predicate(partitions: Sequence[Partition]) -> str | None:
    """A SQL predicate selecting exactly ``partitions`` (None for an unpartitioned table)."""
    if not partitions or partitions == [()] or tuple(partitions) == ((),):
        return None
    terms = []
    for partition in partitions:
        parts = [
            f"`{c}` IS NULL" if v is None else f"`{c}` = {_literal(v)}" for c, v in partition
        ]
        terms.append("(" + " AND ".join(parts) + ")")
    return " OR ".join(terms)


def needs_checkpoint(version: int, checkpoint_version: int | None) -> bool:
    """A checkpoint is due when the log has commits after the last one (or has none)."""
    return checkpoint_version is None or version > checkpoint_version
