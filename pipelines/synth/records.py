"""The records of one source for one block, before and after the finishing touches.

A source module builds clean records in the source's native columns and says who owns each
one; :func:`finish` orders them like an export would, adds exact duplicate rows and derives
the record-level ground truth.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from pipelines.synth.messiness import share_count

TRUTH_SCHEMA = pa.schema(
    [
        ("record_key", pa.string()),
        ("person_id", pa.string()),
        ("event_time", pa.timestamp("ms", tz="UTC")),
        ("invalid_reason", pa.string()),
        ("copies", pa.int8()),
    ]
)


@dataclass
class SourceRecords:
    """Records of one source: native columns plus, per row, its true owner and time."""

    table: pa.Table
    person_row: np.ndarray  # row in the block's people; -1 = nobody (junk row)
    event_ms: np.ndarray  # true UTC time of the record, epoch ms
    invalid_reason: np.ndarray = field(default=None)  # object array, None = valid

    def __post_init__(self) -> None:
        if self.invalid_reason is None:
            self.invalid_reason = np.full(len(self.table), None, dtype=object)

    def mark_invalid(self, rows: np.ndarray, reason: str, owner_lost: bool = False) -> None:
        self.invalid_reason[rows] = reason
        if owner_lost:  # no identifier left: nobody can (or should) claim the row
            self.person_row[rows] = -1


@dataclass(frozen=True)
class FinishedSource:
    table: pa.Table  # the records as built (no duplicates, build order)
    file_order: np.ndarray  # table rows in file order, duplicated rows twice
    truth: pa.Table  # one row per distinct record (TRUTH_SCHEMA), in file order


def finish(
    records: SourceRecords,
    people: pd.DataFrame,
    record_key: Callable[[pa.Table], pa.Array],
    duplicate_share: float,
    rng: np.random.Generator,
    order: np.ndarray | None = None,
) -> FinishedSource:
    """Order rows (by event time unless ``order`` is given), insert exact duplicates of
    ``duplicate_share`` of them at random places, and build the record truth."""
    n = len(records.table)
    if order is None:
        order = np.argsort(records.event_ms, kind="stable")
    k = share_count(n, duplicate_share)
    dup = rng.choice(n, k, replace=False) if k else np.array([], dtype=np.int64)
    # A re-delivered row shows up later in the export, at a random place.
    where = np.sort(rng.integers(0, n + 1, k))
    file_order = np.insert(order, where, dup) if k else order
    copies = np.ones(n, dtype=np.int8)
    copies[dup] += 1

    person_ids = people["person_id"].to_numpy(dtype=object)
    rows = records.person_row[order]
    truth = pa.table(
        {
            "record_key": record_key(records.table).take(pa.array(order)),
            "person_id": pa.array(np.where(rows >= 0, person_ids[rows], None), pa.string()),
            "event_time": pa.array(records.event_ms[order], pa.timestamp("ms", tz="UTC")),
            "invalid_reason": pa.array(records.invalid_reason[order], pa.string()),
            "copies": pa.array(copies[order], pa.int8()),
        },
        schema=TRUTH_SCHEMA,
    )
    return FinishedSource(records.table, file_order, truth)
