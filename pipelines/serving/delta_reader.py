"""Point lookups on a Delta table keyed by one sorted string column, with delta-rs (no JVM).

The export job writes each lookup table range-partitioned and sorted on its key, so every data
file covers a narrow key range, recorded as min/max statistics in the Delta log. A lookup:
1. picks the files whose [min, max] contains the key (bisect over files sorted by min, with a
   running max so files a MERGE added with overlapping ranges are still found);
2. in each, picks the row groups whose Parquet statistics contain the key;
3. reads just that row group and slices the matching row.
The reader keeps the table open and re-reads the log when its version changes (checked at most
every ``refresh_s`` seconds), so a nightly overwrite or an incremental MERGE is picked up; a
reader pinned to a ``version`` (time travel, pipelines/serving/history.py) never moves.
"""

from __future__ import annotations

import bisect
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


class TableUnavailable(RuntimeError):
    """The Delta table does not exist (yet) or cannot be read."""


@dataclass(frozen=True)
class _File:
    low: str
    high: str
    path: str


class DeltaPointReader:
    """Thread-safe point reader for one Delta table; ``get(key)`` returns a row dict or None.
    With ``version`` it reads that version of the table, always."""

    def __init__(
        self, table_uri: str, key: str, refresh_s: float = 5.0, version: int | None = None
    ):
        self.table_uri = table_uri
        self.key = key
        self.refresh_s = refresh_s
        self.pinned = version
        self._lock = threading.Lock()
        self._table: Any = None
        self._version: int | None = None
        # (files sorted by min, their mins, running max of their maxes): swapped as one.
        self._index: tuple[list[_File], list[str], list[str]] = ([], [], [])
        # ParquetFile readers are not thread-safe (the API reads from a thread pool): one per
        # thread and file. Data files are immutable, so a reader stays valid for its path.
        self._local = threading.local()
        self._checked = 0.0

    @property
    def version(self) -> int | None:
        return self._version

    def _open(self) -> None:
        from deltalake import DeltaTable

        try:
            if self._table is None:
                self._table = DeltaTable(self.table_uri, version=self.pinned)
            elif self.pinned is None:
                self._table.update_incremental()
        except Exception as exc:  # TableNotFoundError and I/O errors alike
            self._table = None
            raise TableUnavailable(f"cannot open Delta table {self.table_uri}: {exc}") from exc
        version = self._table.version()
        if version == self._version:
            return
        protocol = self._table.protocol()
        if "deletionVectors" in (protocol.reader_features or []):
            raise TableUnavailable(
                f"{self.table_uri} uses deletion vectors; the export is written without them"
            )
        actions = pa.table(self._table.get_add_actions(flatten=True)).to_pylist()
        files = []
        for action in actions:
            low, high = action.get(f"min.{self.key}"), action.get(f"max.{self.key}")
            if action.get("num_records") == 0:
                continue
            # No statistics: the file may hold any key.
            files.append(
                _File(low if low is not None else "", high or "\U0010ffff", action["path"])
            )
        files.sort(key=lambda f: (f.low, f.high))
        running, highest = [], ""
        for f in files:
            highest = max(highest, f.high)
            running.append(highest)
        self._index = (files, [f.low for f in files], running)
        self._version = version

    def refresh(self, force: bool = False) -> int | None:
        """Re-read the log if ``refresh_s`` passed (or ``force``); returns the version."""
        now = time.monotonic()
        if force or self._table is None or now - self._checked >= self.refresh_s:
            with self._lock:
                self._open()
                self._checked = now
        return self._version

    def _candidates(self, key: str) -> list[_File]:
        files, lows, running_high = self._index
        i = bisect.bisect_right(lows, key) - 1
        found = []
        while i >= 0 and running_high[i] >= key:
            if files[i].high >= key:
                found.append(files[i])
            i -= 1
        return found

    def _parquet_file(self, path: str) -> tuple[pq.ParquetFile, list[tuple[int, Any, Any]]]:
        """This thread's reader of ``path`` and its row groups' (index, min, max) of the key."""
        files = getattr(self._local, "files", None)
        if files is None or len(files) > 4 * len(self._index[0]) + 64:
            files = self._local.files = {}  # bounded: old snapshots' files are dropped
        entry = files.get(path)
        if entry is None:
            pf = pq.ParquetFile(os.path.join(self._local_root(), path))
            meta, column = pf.metadata, pf.schema_arrow.get_field_index(self.key)
            groups = []
            for rg in range(meta.num_row_groups):
                stats = meta.row_group(rg).column(column).statistics
                known = stats is not None and stats.has_min_max
                groups.append((rg, stats.min if known else None, stats.max if known else None))
            entry = files[path] = (pf, groups)
        return entry

    def _local_root(self) -> str:
        uri = self.table_uri
        return uri[len("file://") :] if uri.startswith("file://") else uri

    def get(self, key: str, columns: Sequence[str] | None = None) -> dict[str, Any] | None:
        """The row whose key column equals ``key`` (only ``columns`` when given; maps as
        dicts), or None."""
        self.refresh()
        wanted = None if columns is None else [self.key, *[c for c in columns if c != self.key]]
        try:
            return self._get(key, wanted)
        except FileNotFoundError:
            # A file the cached snapshot lists was vacuumed: read the log again, once.
            self.refresh(force=True)
            return self._get(key, wanted)

    def _get(self, key: str, columns: list[str] | None) -> dict[str, Any] | None:
        for f in self._candidates(key):
            pf, groups = self._parquet_file(f.path)
            for rg, low, high in groups:
                if low is not None and not (low <= key <= high):
                    continue
                table = pf.read_row_group(rg, columns=columns)
                at = pc.index(table.column(self.key), pa.scalar(key, pa.string())).as_py()
                if at >= 0:
                    return table.slice(at, 1).to_pylist(maps_as_pydicts="strict")[0]
        return None
