"""Merges and their undo in the read API (docs/serving.md, "Merges and undo").

- ``GET /v1/profiles/{profile_id}/merges`` (any key): the merges of a profile as survivor or
  as merged, oldest first, each with ``undone``.
- ``POST /v1/merges/{merge_id}/undo`` (admin key): starts ``profilake-unmerge --merge <id>`` as
  a child process on the API's conf; 202 with an ``undo_id``. One undo runs at a time (409
  while one runs), 409 for a merge already undone, 404 for an unknown one.
- ``GET /v1/undos/{undo_id}`` (admin key): running, done, or failed with the job's last error
  line; any API process on the same conf answers (``UndoJobs`` keeps undos as files).

Both tables are read with delta-rs on every request (no JVM): an audit table of merges is
small next to the profiles, and an agent asks rarely.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
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


class Busy(RuntimeError):
    """An undo is already running."""


def _running(pid: int, undo_id: str) -> bool:
    """Whether ``pid`` is still the undo's child (its command line names the undo id, so a
    reused pid does not count)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return undo_id.encode() in cmdline


def _last_error(log: Path, fallback: str) -> str:
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()] \
        if log.exists() else []
    mine = [ln for ln in lines if ln.startswith("profilake-unmerge:")]
    return (mine or lines or [fallback])[-1]


@dataclass
class UndoJobs:
    """The undos started through the API, as files under ``log_dir`` — so every API worker
    and a restarted API answer for them. Per undo: ``<undo_id>.json`` (merge, child pid, who,
    when), ``<undo_id>.log`` (the job's output) and, once the API process that started it saw
    it end, ``<undo_id>.exit`` (its exit code). Status rule: an exit code says done (0) or
    failed; without one, a live child is running; a child that ended unwatched (its API
    process stopped first) is done when ``identity_unmerges`` holds the merge, else failed.
    One undo runs at a time across all API processes (a file lock guards the start)."""

    conf: Conf
    log_dir: Path
    # What runs an undo; the arguments below are appended. Only the agent console's test
    # points it elsewhere, to keep its browser flow off a Spark job tested on its own.
    command: tuple[str, ...] = (sys.executable, "-m", "jobs.unmerge")

    @classmethod
    def from_conf(cls, conf: Conf) -> UndoJobs:
        return cls(conf, Path(conf.path("paths.logs")) / "undo")

    def start(self, mid: str, by: str) -> dict[str, Any]:
        """Start ``profilake-unmerge --merge mid``; raises ``Busy`` while another runs."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_dir / ".start.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if any(state["status"] == "running" for state in self.started()):
                raise Busy("an undo is already running")
            undo_id = f"u_{uuid.uuid4().hex[:16]}"
            dumped = self.log_dir / f"{undo_id}.conf.json"
            dumped.write_text(json.dumps(self.conf.to_dict()), encoding="utf-8")
            cmd = [*self.command, "--merge", mid, "--by", by,
                   "--reason", f"POST /v1/merges/{mid}/undo ({undo_id})"]
            env = {**os.environ, CONF_JSON_ENV: str(dumped), "PROFILAKE_ENV": self.conf.env}
            with open(self.log_dir / f"{undo_id}.log", "wb") as out:
                child = subprocess.Popen(cmd, env=env, cwd=str(self.conf.project_dir),
                                         stdout=out, stderr=subprocess.STDOUT)
            record = {"undo_id": undo_id, "merge_id": mid, "pid": child.pid, "by": by,
                      "started_at": datetime.now(UTC).isoformat()}
            self._write(f"{undo_id}.json", json.dumps(record))
        threading.Thread(target=self._reap, args=(undo_id, child), daemon=True).start()
        return self._state(record)

    def _write(self, name: str, text: str) -> None:
        # Readers in other processes see the whole file or none (rename is atomic).
        part = self.log_dir / f".{name}.part"
        part.write_text(text, encoding="utf-8")
        part.replace(self.log_dir / name)

    def _reap(self, undo_id: str, child: subprocess.Popen) -> None:
        self._write(f"{undo_id}.exit", str(child.wait()))

    def get(self, undo_id: str) -> dict[str, Any] | None:
        path = self.log_dir / f"{undo_id}.json"
        if not path.exists():
            return None
        return self._state(json.loads(path.read_text(encoding="utf-8")))

    def started(self) -> list[dict[str, Any]]:
        """Every undo started through the API on this conf, oldest first, with its status."""
        # u_<16 hex>.json, not the u_<16 hex>.conf.json beside it.
        paths = self.log_dir.glob("u_" + "?" * 16 + ".json") if self.log_dir.exists() else []
        records = [json.loads(p.read_text(encoding="utf-8")) for p in paths]
        return [self._state(r) for r in sorted(records, key=lambda r: r["started_at"])]

    def _state(self, record: dict[str, Any]) -> dict[str, Any]:
        undo_id = record["undo_id"]
        exit_file = self.log_dir / f"{undo_id}.exit"
        log = self.log_dir / f"{undo_id}.log"
        error = None
        if exit_file.exists():
            code = int(exit_file.read_text(encoding="utf-8"))
            status = "done" if code == 0 else "failed"
            if code:
                error = _last_error(log, f"exit code {code}")
        elif _running(record["pid"], undo_id):
            status = "running"
        elif record["merge_id"] in MergeLog.from_catalog(Catalog(self.conf)).undone():
            status = "done"
        else:
            status = "failed"
            error = _last_error(log, "the undo ended while no API process watched it")
        return {"undo_id": undo_id, "merge_id": record["merge_id"], "status": status,
                "error": error, "by": record["by"], "started_at": record["started_at"]}


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
        """An undo started through the API: running, done or failed (with the error)."""
        state = await run_in_threadpool(jobs.get, undo_id)
        if state is None:
            raise HTTPException(404, f"no undo {undo_id}")
        return state
