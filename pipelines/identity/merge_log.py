"""The merge audit (``identity_merges``) and its undos (``identity_unmerges``), read with
delta-rs (no JVM): what the read API lists and what ``profilake-unmerge`` checks before it
starts Spark, so an unknown or undone merge gets its answer in a second.

Rules of ``check``: a merge is named by ``merge_ids.merge_id``; one recorded in
``identity_unmerges`` is undone; a merge whose survivor was itself merged away later (by a
merge in force) waits until that later merge is undone, because the rows to move back are no
longer on the survivor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pipelines.identity.merge_ids import merge_id


class UnmergeError(ValueError):
    """The merge cannot be undone as asked (unknown, already undone, or tangled)."""


class UnknownMerge(UnmergeError):
    pass


class AlreadyUndone(UnmergeError):
    pass


@dataclass(frozen=True)
class MergeRow:
    """One ``identity_merges`` row, named by its merge_id."""

    merge_id: str
    survivor: str
    merged: str
    id_type: str
    id_value: str
    record_id: str
    merged_at: datetime
    merged_created_at: datetime


def _rows(table_uri: str, columns: list[str]) -> list[dict[str, Any]]:
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        return DeltaTable(table_uri).to_pyarrow_table(columns=columns).to_pylist()
    except TableNotFoundError:
        return []


def _naive(value: datetime) -> datetime:
    return value.replace(tzinfo=None) if value.tzinfo else value


@dataclass(frozen=True)
class MergeLog:
    """``identity_merges`` and ``identity_unmerges`` at two table URIs."""

    merges_uri: str
    unmerges_uri: str

    @classmethod
    def from_catalog(cls, catalog: Any) -> MergeLog:
        return cls(catalog.path("identity_merges"), catalog.path("identity_unmerges"))

    def merges(self) -> list[MergeRow]:
        rows = _rows(self.merges_uri, ["survivor_profile_id", "merged_profile_id", "id_type",
                                       "id_value", "record_id", "merged_at",
                                       "merged_profile_created_at"])
        return [MergeRow(merge_id(r["survivor_profile_id"], r["merged_profile_id"],
                                  r["record_id"]),
                         r["survivor_profile_id"], r["merged_profile_id"], r["id_type"],
                         r["id_value"], r["record_id"], _naive(r["merged_at"]),
                         _naive(r["merged_profile_created_at"]))
                for r in rows]

    def undone(self) -> set[str]:
        return {r["merge_id"] for r in _rows(self.unmerges_uri, ["merge_id"])}

    def find(self, mid: str) -> MergeRow | None:
        return next((m for m in self.merges() if m.merge_id == mid), None)

    def check(self, mid: str) -> MergeRow:
        """The merge ``mid`` names, if it can be undone now.

        Raises:
            UnknownMerge, AlreadyUndone, UnmergeError (survivor merged away since).
        """
        merges, undone = self.merges(), self.undone()
        if mid in undone:
            raise AlreadyUndone(f"merge {mid} is already undone (identity_unmerges)")
        row = next((m for m in merges if m.merge_id == mid), None)
        if row is None:
            raise UnknownMerge(f"no merge {mid} in identity_merges")
        later = [m for m in merges if m.merged == row.survivor and m.merge_id not in undone
                 and m.merged_at >= row.merged_at]
        if later:
            raise UnmergeError(
                f"{row.survivor} was merged into {later[0].survivor} after merge {mid}; undo "
                f"merge {later[0].merge_id} first")
        return row

    def of_profile(self, profile_id: str) -> list[dict[str, Any]]:
        """The merges with ``profile_id`` as survivor or merged, oldest first."""
        undone = self.undone()
        mine = sorted((m for m in self.merges() if profile_id in (m.survivor, m.merged)),
                      key=lambda m: (m.merged_at, m.merge_id))
        return [{"merge_id": m.merge_id, "survivor_profile_id": m.survivor,
                 "merged_profile_id": m.merged, "id_type": m.id_type,
                 "merged_at": m.merged_at.isoformat() + "Z", "undone": m.merge_id in undone}
                for m in mine]
