"""Test tooling, not product code: the three merge endpoints the agent console calls, with the
shapes the real ones (the unmerge tool's branch) will have, so the console can be driven end
to end before they land. Swap this router for the real endpoints in the console test's fixture.

- ``GET /v1/profiles/{profile_id}/merges``: the ``identity_merges`` rows (a real Delta table,
  read with delta-rs) where the profile survived or was merged away, oldest first.
- ``POST /v1/merges/{merge_id}/undo``: keys in ``PROFILAKE_ADMIN_API_KEYS`` only (403 for the
  other API keys, 401 for unknown ones) → 202 ``{undo_id, merge_id, status: "running"}``.
- ``GET /v1/undos/{undo_id}``: ``running`` at the first poll, ``done`` from the second on (the
  merge then lists as undone), like a real undo that takes a moment.

``undone`` starts with the merge ids given; ``calls`` records every undo request, refused ones too.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Header, HTTPException

from pipelines.identity.merge_ids import merge_id

ADMIN_KEYS_ENV = "PROFILAKE_ADMIN_API_KEYS"


@dataclass
class MergesState:
    merges_uri: str
    api_keys: frozenset[str]
    undone: set[str] = field(default_factory=set)
    undos: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)  # (merge_id, key)
    enabled: bool = True  # False: answer 404 as a server without these routes would

    def rows(self) -> list[dict[str, Any]]:
        from deltalake import DeltaTable

        return DeltaTable(self.merges_uri).to_pyarrow_table().to_pylist()


def _iso(at) -> str:
    """Delta timestamps are UTC instants (delta-rs gives them with or without the zone)."""
    text = at.isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z") if at.tzinfo else text + "Z"


def merges_router(state: MergesState) -> APIRouter:
    router = APIRouter()

    def need(key: str | None, admin: bool = False) -> None:
        if not state.enabled:
            raise HTTPException(404, "Not Found")
        if key not in state.api_keys:
            raise HTTPException(401, "missing or invalid API key")
        admins = {k.strip() for k in os.environ.get(ADMIN_KEYS_ENV, "").split(",") if k.strip()}
        if admin and key not in admins:
            raise HTTPException(403, "only admin keys may undo merges")

    @router.get("/v1/profiles/{profile_id}/merges")
    def merges(profile_id: str, x_api_key: str | None = Header(None)) -> list[dict[str, Any]]:
        need(x_api_key)
        out = []
        for r in sorted(state.rows(), key=lambda r: r["merged_at"]):
            if profile_id not in (r["survivor_profile_id"], r["merged_profile_id"]):
                continue
            mid = merge_id(r["survivor_profile_id"], r["merged_profile_id"], r["record_id"])
            out.append({
                "merge_id": mid,
                "survivor_profile_id": r["survivor_profile_id"],
                "merged_profile_id": r["merged_profile_id"],
                "id_type": r["id_type"],
                "merged_at": _iso(r["merged_at"]),
                "undone": mid in state.undone,
            })
        return out

    @router.post("/v1/merges/{mid}/undo", status_code=202)
    def undo(mid: str, x_api_key: str | None = Header(None)) -> dict[str, Any]:
        state.calls.append((mid, x_api_key or ""))
        need(x_api_key, admin=True)
        known = {merge_id(r["survivor_profile_id"], r["merged_profile_id"], r["record_id"])
                 for r in state.rows()}
        if mid not in known:
            raise HTTPException(404, "unknown merge")
        undo_id = uuid.uuid4().hex[:16]
        state.undos[undo_id] = {"undo_id": undo_id, "merge_id": mid, "status": "running",
                                "error": None, "polls": 0}
        return {"undo_id": undo_id, "merge_id": mid, "status": "running"}

    @router.get("/v1/undos/{undo_id}")
    def undo_status(undo_id: str, x_api_key: str | None = Header(None)) -> dict[str, Any]:
        need(x_api_key)
        undo = state.undos.get(undo_id)
        if undo is None:
            raise HTTPException(404, "unknown undo")
        undo["polls"] += 1
        if undo["polls"] >= 2:
            undo["status"] = "done"
            state.undone.add(undo["merge_id"])
        return {k: undo[k] for k in ("undo_id", "merge_id", "status", "error")}

    return router
