"""The console's routes: the page (``GET /console``, no key: the page asks for one) and the
timeline JSON (``GET /v1/profiles/{profile_id}/history``, X-API-Key like every read)."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from pipelines.serving.console.page import console_page
from pipelines.serving.console.timeline import ProfileTimeline
from pipelines.serving.delta_reader import TableUnavailable
from pipelines.serving.history import Gone
from pipelines.serving.identifiers import PROFILE_ID_PATTERN

MAX_ENTRIES = 100


def add_console(app: FastAPI, authorized, timeline: ProfileTimeline) -> None:
    @app.get(
        "/v1/profiles/{profile_id}/history",
        dependencies=[Depends(authorized)],
        responses={401: {}, 410: {}, 422: {}, 503: {}},
        tags=["console"],
    )
    async def profile_history(
        profile_id: str = PathParam(pattern=PROFILE_ID_PATTERN, examples=["p_0123456789abcdef"]),
        limit: int = Query(20, ge=1, le=MAX_ENTRIES, description="newest entries to return"),
    ) -> dict[str, Any]:
        """The profile's changes as the export served them, newest first: one entry per export
        commit that changed its document (insert, update with the fields old → new, delete),
        read from the newest ``api.console.timeline_commits`` commits of the change data feed."""
        try:
            return await run_in_threadpool(timeline.timeline, profile_id, limit)
        except Gone as exc:
            raise HTTPException(410, str(exc)) from exc
        except TableUnavailable as exc:
            raise HTTPException(503, f"profile store unavailable: {exc}") from exc

    @app.get("/console", response_class=HTMLResponse, include_in_schema=False)
    async def console() -> str:
        return console_page()
