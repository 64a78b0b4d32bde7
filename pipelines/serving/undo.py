"""Merges and their undo in the read API (docs/serving.md, "Merges and undo").

- ``GET /v1/profiles/{profile_id}/merges`` (any key): the merges of a profile as survivor or
  as merged, oldest first, each with ``undone``.
- ``POST /v1/merges/{merge_id}/undo`` (admin key): starts ``profilake-unmerge --merge <id>`` as
  a child process on the API's conf; 202 with an ``undo_id``. One undo runs at a time (409
  while one runs), 409 for a merge already undone, 404 for an unknown one.
- ``GET /v1/undos/{undo_id}`` (admin key): running, done, or failed with the job's last error
  line. Undo ids live in this API process: a restart forgets them (``identity_unmerges`` keeps
  every finished undo).

Both tables are read with delta-rs on every request (no JVM): an audit table of merges is
small next to the profiles, and an agent asks rarely.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.catalog import Catalog
from pipelines.config import CONF_JSON_ENV, Conf, ConfigError
from pipelines.identity.merge_log import MergeLog

ADMIN_KEYS_ENV = "PROFILAKE_ADMIN_API_KEYS"
MERGE_ID_PATTERN = r"^[0-9a-f]{16}$"
UNDO_ID_PATTERN = r"^u_[0-9a-f]{16}$"


def load_admin_keys(conf: Conf) -> list[str]:
    """Admin keys from ``PROFILAKE_ADMIN_API_KEYS`` (comma-separated) and the
    ``api.admin_keys_file`` secrets file (one per line, ``#`` comments); may be none."""
    keys = [k.strip() for k in os.environ.get(ADMIN_KEYS_ENV, "").split(",") if k.strip()]
    if str(conf.get("api.admin_keys_file") or ""):
        path = Path(conf.path("api.admin_keys_file"))
        if not path.exists():
            raise ConfigError(f"api.admin_keys_file {path} does not exist")
        lines = path.read_text(encoding="utf-8").splitlines()
        keys += [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    return keys


@dataclass
class _Undo:
    undo_id: str
    merge_id: str
    child: subprocess.Popen
    log: Path

    def state(self) -> dict[str, Any]:
        code = self.child.poll()
        status = "running" if code is None else "done" if code == 0 else "failed"
        error = None
        if status == "failed":
            lines = [ln for ln in self.log.read_text(errors="replace").splitlines() if ln.strip()]
            mine = [ln for ln in lines if ln.startswith("profilake-unmerge:")]
            error = (mine or lines or [f"exit code {code}"])[-1]
        return {"undo_id": self.undo_id, "merge_id": self.merge_id, "status": status,
                "error": error}


class Busy(RuntimeError):
    """An undo is already running."""


@dataclass
class UndoJobs:
    """The undo child processes of this API process; one runs at a time."""

    conf: Conf
    log_dir: Path
    # What runs an undo; the arguments below are appended. Only the agent console's test
    # points it elsewhere, to keep its browser flow off a Spark job tested on its own.
    command: tuple[str, ...] = (sys.executable, "-m", "jobs.unmerge")
    _jobs: dict[str, _Undo] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_conf(cls, conf: Conf) -> UndoJobs:
        return cls(conf, Path(conf.path("paths.logs")) / "undo")

    def start(self, mid: str, by: str) -> dict[str, Any]:
        """Start ``profilake-unmerge --merge mid``; raises ``Busy`` while another runs."""
        with self._lock:
            if any(j.child.poll() is None for j in self._jobs.values()):
                raise Busy("an undo is already running")
            undo_id = f"u_{uuid.uuid4().hex[:16]}"
            self.log_dir.mkdir(parents=True, exist_ok=True)
            dumped = self.log_dir / f"{undo_id}.conf.json"
            dumped.write_text(json.dumps(self.conf.to_dict()), encoding="utf-8")
            log = self.log_dir / f"{undo_id}.log"
            cmd = [*self.command, "--merge", mid, "--by", by,
                   "--reason", f"POST /v1/merges/{mid}/undo ({undo_id})"]
            env = {**os.environ, CONF_JSON_ENV: str(dumped), "PROFILAKE_ENV": self.conf.env}
            with open(log, "wb") as out:
                child = subprocess.Popen(cmd, env=env, cwd=str(self.conf.project_dir),
                                         stdout=out, stderr=subprocess.STDOUT)
            self._jobs[undo_id] = _Undo(undo_id, mid, child, log)
            return self._jobs[undo_id].state()

    def get(self, undo_id: str) -> dict[str, Any] | None:
        job = self._jobs.get(undo_id)
        return None if job is None else job.state()


def add_merge_routes(app: Any, conf: Conf, authorized: Any, admin: Any) -> None:
    """The three routes above; ``authorized`` / ``admin`` are the key dependencies."""
    from fastapi import Depends, HTTPException
    from fastapi import Path as PathParam
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool

    from pipelines.serving.identifiers import PROFILE_ID_PATTERN

    log = MergeLog.from_catalog(Catalog(conf))
    jobs = UndoJobs.from_conf(conf)
    app.state.undo_jobs = jobs

    @app.get("/v1/profiles/{profile_id}/merges", dependencies=[Depends(authorized)],
             tags=["merges"])
    async def merges_of(profile_id: str = PathParam(pattern=PROFILE_ID_PATTERN)
                        ) -> list[dict[str, Any]]:
        """The merges of a profile, as survivor or as merged, oldest first."""
        return await run_in_threadpool(log.of_profile, profile_id)

    @app.post("/v1/merges/{merge_id}/undo", status_code=202, tags=["merges"],
              responses={401: {}, 403: {}, 404: {}, 409: {}})
    async def undo(merge_id: str = PathParam(pattern=MERGE_ID_PATTERN),
                   who: str = Depends(admin)):
        """Start undoing a merge (profilake-unmerge); poll ``GET /v1/undos/{undo_id}``."""
        if await run_in_threadpool(log.find, merge_id) is None:  # the job checks the rest
            raise HTTPException(404, f"no merge {merge_id}")
        if merge_id in await run_in_threadpool(log.undone):
            raise HTTPException(409, f"merge {merge_id} is already undone")
        try:
            state = jobs.start(merge_id, who)
        except Busy as exc:
            raise HTTPException(409, str(exc)) from exc
        return JSONResponse({k: state[k] for k in ("undo_id", "merge_id", "status")}, 202)

    @app.get("/v1/undos/{undo_id}", dependencies=[Depends(admin)], tags=["merges"],
             responses={401: {}, 403: {}, 404: {}})
    async def undo_state(undo_id: str = PathParam(pattern=UNDO_ID_PATTERN)) -> dict[str, Any]:
        """An undo started by this API process: running, done or failed (with the error)."""
        state = jobs.get(undo_id)
        if state is None:
            raise HTTPException(404, f"no undo {undo_id} in this API process")
        return state
