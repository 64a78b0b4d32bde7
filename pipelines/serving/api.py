"""The read API: profiles for chatbots, from Redis first, then the Delta export (delta-rs).

- ``GET /v1/profiles/{profile_id}`` and ``GET /v1/lookup/{id_type}/{id_value}`` (API key in
  ``X-API-Key``); a merged-away profile id answers with its survivor (``merged_from`` says so).
- Every profile response carries ``profile_version``, ``as_of``, ``updated_at``,
  ``staleness_s`` (now − updated_at) and ``source`` (``cache`` or ``delta``).
- 401 without a valid key, 404 for an unknown profile or identifier, 422 for a malformed id,
  503 when neither Redis nor the export can answer.
- ``?as_of=<ISO time>`` or ``?version=<n>`` on ``/v1/profiles/{id}``: the document the export
  held then (pipelines/serving/history.py); 400 for a bad moment, 404 before the table's first
  version, 410 when that history was cleaned up.
- Merges and their undo (``/v1/profiles/{id}/merges``, ``POST /v1/merges/{id}/undo`` with an
  admin key, ``/v1/undos/{id}``): pipelines/serving/undo.py.
- ``GET /v1/profiles/{id}/history`` (the profile's change timeline) and the agent console page
  at ``/console`` (pipelines/serving/console).
- ``/healthz`` (process alive), ``/readyz`` (Redis reachable or export readable), ``/docs``,
  ``/metrics`` (Prometheus text: the monitor's metrics and request counters, metrics_route.py).

A Redis timeout (``api.redis_timeout_ms``) sends that request to Delta; a refused or broken
connection also keeps the API on Delta for ``api.redis_retry_s`` before trying Redis again, so
an outage costs one failed connect, not one per request. A cache miss also falls back: the
cache is not the source of truth.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import os
import re
import time
from collections.abc import Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from pipelines.catalog import Catalog
from pipelines.config import Conf, ConfigError, load_conf_or_dump
from pipelines.serving.audit import ChatAudit, audit_row
from pipelines.serving.cache import READ_SCRIPT
from pipelines.serving.console.routes import add_console
from pipelines.serving.console.timeline import ProfileTimeline
from pipelines.serving.coverage import decode_offsets
from pipelines.serving.delta_reader import DeltaPointReader, TableUnavailable
from pipelines.serving.hashing import hmac_hex
from pipelines.serving.history import (
    BadMoment,
    ExportHistory,
    Gone,
    NotThen,
    parse_as_of,
    parse_version,
)
from pipelines.serving.identifiers import ID_TYPES, PROFILE_ID_PATTERN, normalize
from pipelines.serving.metrics_route import add_metrics
from pipelines.serving.records import BASE_STATE, COVERED_OFFSETS, DOCUMENT
from pipelines.serving.redis_pipe import RedisReplyError, ScriptPipe
from pipelines.serving.request_metrics import RequestMetrics
from pipelines.serving.served import Composer, Found, from_reply
from pipelines.serving.undo import add_merge_routes, load_admin_keys

API_KEYS_ENV = "PROFILAKE_API_KEYS"
_PROFILE_ID = re.compile(PROFILE_ID_PATTERN)
_PROFILE_ID_COLUMN = ("profile_id",)
_DOCUMENT_COLUMNS = (DOCUMENT, "updated_at", "profile_version")
_BASE_COLUMNS = (DOCUMENT, "updated_at", "profile_version", BASE_STATE, COVERED_OFFSETS)
IdType = enum.StrEnum("IdType", {t: t for t in ID_TYPES})


class ProfileOut(BaseModel):
    """A chatbot export row (fields beyond these depend on ``export.allow_list``)."""

    model_config = ConfigDict(extra="allow")
    profile_id: str
    profile_version: int
    as_of: str
    updated_at: str
    exported_at: str
    personalization_allowed: bool
    lookup_ids: dict[str, list[str]]
    staleness_s: float
    source: str
    base_version: int
    pending_events: int
    freshness_ms: int
    merged_from: str | None = None


class ChatIn(BaseModel):
    """One customer message for the reference chatbot."""

    message: str
    id_type: IdType = IdType.customer_id
    id_value: str


def load_api_keys(conf: Conf) -> list[str]:
    """Keys from ``PROFILAKE_API_KEYS`` (comma-separated) and the ``api.keys_file`` secrets
    file (one per line, ``#`` comments), plus the admin keys (``undo.load_admin_keys``), which
    are read keys too."""
    keys = [k.strip() for k in os.environ.get(API_KEYS_ENV, "").split(",") if k.strip()]
    keys_file = str(conf.get("api.keys_file") or "")
    if keys_file:
        path = Path(conf.path("api.keys_file"))
        if not path.exists():
            raise ConfigError(f"api.keys_file {path} does not exist")
        lines = path.read_text(encoding="utf-8").splitlines()
        keys += [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    keys += load_admin_keys(conf)
    if not keys:
        raise ConfigError(
            f"no API keys: set {API_KEYS_ENV} (comma-separated) or api.keys_file (one per line)"
        )
    return keys


class KeyChecker:
    """Constant-time API-key check: the candidate's SHA-256 is compared with every known key's
    digest with ``hmac.compare_digest``, without stopping at the first match."""

    def __init__(self, keys: Sequence[str]):
        self._digests = [hashlib.sha256(k.encode()).digest() for k in keys]

    def __call__(self, candidate: str | None) -> bool:
        if not candidate:
            return False
        digest = hashlib.sha256(candidate.encode()).digest()
        ok = False
        for known in self._digests:
            ok |= hmac.compare_digest(digest, known)
        return ok


@dataclass
class Backend:
    """Where profiles come from: Redis (async) first, the Delta export second."""

    conf: Conf
    prefix: str
    hops: int
    pepper: str
    hashed: frozenset[str]
    timeout_s: float
    retry_s: float
    export: DeltaPointReader
    identifiers: DeltaPointReader
    composer: Composer
    redis: ScriptPipe | None = None
    redis_down_until: float = 0.0

    @classmethod
    def from_conf(cls, conf: Conf) -> Backend:
        catalog = Catalog(conf)
        refresh = float(conf.get("api.delta_refresh_s"))
        return cls(
            conf=conf,
            prefix=str(conf.get("cache.prefix")),
            hops=int(conf.get("cache.max_redirect_hops")),
            pepper=str(conf.get("export.hash_pepper")),
            hashed=frozenset(conf.get("export.hashed_id_types")),
            timeout_s=float(conf.get("api.redis_timeout_ms")) / 1000,
            retry_s=float(conf.get("api.redis_retry_s")),
            export=DeltaPointReader(catalog.path("chatbot_export"), "profile_id", refresh),
            identifiers=DeltaPointReader(
                catalog.path("chatbot_identifiers"), "lookup_key", refresh
            ),
            composer=Composer.from_conf(conf),
        )

    def connect(self) -> None:
        self.redis = ScriptPipe(
            host=str(self.conf.get("redis.host")),
            port=int(self.conf.get("redis.port")),
            db=int(self.conf.get("redis.db")),
            script=READ_SCRIPT,
            timeout_s=self.timeout_s,
        )

    async def close(self) -> None:
        if self.redis is not None:
            self.redis.close()
            self.redis = None

    async def from_cache(self, kind: str, key: str) -> Found | None:
        """The cached base and the hot lane's overlay; None on a miss or while Redis is down."""
        if time.monotonic() < self.redis_down_until:
            return None
        if self.redis is None:
            self.connect()
        try:
            result = await self.redis.run(self.prefix, kind, key, self.hops)
        except TimeoutError:
            # A slow answer (a busy host can stall Redis or this loop) only sends this request
            # to Delta.
            return None
        except (RedisReplyError, OSError):
            # A refused or broken connection means Redis is down: skip it for retry_s.
            self.redis_down_until = time.monotonic() + self.retry_s
            return None
        return from_reply(result)

    def from_delta(self, kind: str, key: str, columns=_DOCUMENT_COLUMNS) -> Found | None:
        """The same answer from the Delta export; raises TableUnavailable when unreadable."""
        pid = key
        if kind == "i":
            row = self.identifiers.get(key, _PROFILE_ID_COLUMN)
            if row is None:
                return None
            pid = row["profile_id"]
        for _ in range(self.hops + 1):
            row = self.export.get(pid, columns)
            if row is not None:
                updated = row["updated_at"]
                if updated.tzinfo is None:  # Delta timestamps are UTC instants
                    updated = updated.replace(tzinfo=UTC)
                return Found(
                    doc=row[DOCUMENT].encode("utf-8"),
                    updated_s=updated.timestamp(),
                    profile_id=pid,
                    source="delta",
                    base_version=int(row["profile_version"] or 0),
                    base=row.get(BASE_STATE) or "",
                    covered=decode_offsets(row.get(COVERED_OFFSETS)),
                )
            redirect = self.identifiers.get(f"merged_profile:{pid}", _PROFILE_ID_COLUMN)
            if redirect is None:
                return None
            pid = redirect["profile_id"]
        return None

    async def find(self, kind: str, key: str) -> Found:
        hit = await self.from_cache(kind, key)
        if hit is not None and (hit.doc or not hit.entries):
            return hit
        try:
            if hit is not None:
                # Only the overlay is in Redis (it lost the cache): the base comes from Delta.
                base = await run_in_threadpool(
                    self.from_delta, "p", hit.profile_id, _BASE_COLUMNS
                )
                if base is not None:
                    hit.doc, hit.updated_s, hit.source = base.doc, base.updated_s, "delta"
                    hit.base_version, hit.base, hit.covered = (
                        base.base_version, base.base, base.covered)
                return hit
            found = await run_in_threadpool(self.from_delta, kind, key)
        except TableUnavailable as exc:
            raise HTTPException(503, f"profile store unavailable: {exc}") from exc
        if found is None:
            what = "profile" if kind == "p" else "identifier"
            raise HTTPException(404, f"unknown {what}")
        return found

    async def ready(self) -> dict[str, Any]:
        redis_ok = False
        if self.redis is None:
            self.connect()
        try:
            redis_ok = await self.redis.ping()
        except Exception:  # noqa: BLE001 — any failure means "not reachable"
            redis_ok = False
        try:
            version = await run_in_threadpool(self.export.refresh, True)
        except TableUnavailable:
            version = None
        return {"redis": redis_ok, "delta": version is not None, "export_version": version}


def _body(composer: Composer, found: Found, asked: str | None) -> tuple[bytes, str]:
    """The served document (served.Composer) plus staleness_s, source and merged_from; the
    stored document is not re-parsed when nothing is pending on top of it."""
    staleness = max(0.0, time.time() - found.updated_s)
    extra = f',"staleness_s":{staleness:.3f},"source":"{found.source}"'
    if asked is not None and asked != found.profile_id:
        extra += f',"merged_from":"{asked}"'
    return composer.body(found, extra), found.source


def _respond(composer: Composer, found: Found, asked: str | None):
    body, source = _body(composer, found, asked)
    return Response(body, media_type="application/json", headers={"X-Profile-Source": source})


class FastReads:
    """Pure-ASGI fast path for the two hot routes, in front of FastAPI's routing.

    It answers only a well-formed, authorized ``GET /v1/profiles/{id}`` or
    ``GET /v1/lookup/{type}/{value}`` — through the same ``Backend.find`` and response as the
    FastAPI routes — and hands everything else (bad key, malformed id, other paths) to FastAPI,
    which gives the canonical 401/422 answers and documents the routes. What it saves per
    request is FastAPI's dependency and parameter machinery (~40% of the CPU of a cache hit).
    """

    def __init__(self, app, backend: Backend, check: KeyChecker):
        self.app = app
        self.backend = backend
        self.check = check

    def _target(self, path: str) -> tuple[str, str, str | None] | None:
        if path.startswith("/v1/profiles/"):
            pid = path[13:]
            return ("p", pid, pid) if _PROFILE_ID.match(pid) else None
        if path.startswith("/v1/lookup/"):
            id_type, sep, raw = path[11:].partition("/")
            if not sep or id_type not in ID_TYPES or "/" in raw or len(raw) > 320:
                return None
            value = normalize(id_type, raw)
            if value is None:
                return None
            if id_type in self.backend.hashed:
                value = hmac_hex(self.backend.pepper, value)
            return "i", f"{id_type}:{value}", None
        return None

    async def __call__(self, scope, receive, send) -> None:
        # A query string (as_of, version) asks for the past: FastAPI's route answers it.
        if scope["type"] == "http" and scope["method"] == "GET" and not scope["query_string"]:
            target = self._target(scope["path"])
            if target is not None:
                key = next((v for k, v in scope["headers"] if k == b"x-api-key"), None)
                if key is not None and self.check(key.decode("latin-1")):
                    kind, lookup, asked = target
                    try:
                        found = await self.backend.find(kind, lookup)
                    except HTTPException as exc:
                        await JSONResponse({"detail": exc.detail}, exc.status_code)(
                            scope, receive, send
                        )
                        return
                    body, source = _body(self.backend.composer, found, asked)
                    await send(
                        {
                            "type": "http.response.start",
                            "status": 200,
                            "headers": [
                                (b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()),
                                (b"x-profile-source", source.encode()),
                            ],
                        }
                    )
                    await send({"type": "http.response.body", "body": body})
                    return
        await self.app(scope, receive, send)


class ReadAPI(FastAPI):
    """FastAPI whose front door (``front``, set by ``create_app``: request counting around
    ``FastReads``) sees every request before FastAPI's own stack. FastAPI wraps its app in
    middlewares of its own (server errors, body limits, exception telemetry): on a cache hit
    they cost more CPU than the answer, and the hot routes need none of them."""

    front: Any

    async def __call__(self, scope, receive, send) -> None:
        await self.front(scope, receive, send)


class _Stack:
    """The FastAPI app's own ``__call__`` (its middlewares and routes), behind the front door."""

    def __init__(self, app: FastAPI):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        await FastAPI.__call__(self.app, scope, receive, send)


async def _short_validation_error(_request: Request, exc: RequestValidationError):
    """422 naming what is wrong and where, never repeating the input: an error body stays
    small whatever was sent, and a value sent by mistake is not echoed into logs and proxies."""
    detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
              for e in exc.errors()]
    return JSONResponse({"detail": detail}, status_code=422)


def create_app(
    conf: Conf, api_keys: Sequence[str] | None = None, admin_keys: Sequence[str] | None = None
) -> FastAPI:
    """The API for ``conf``'s Redis and export tables; keys from ``load_api_keys`` and
    ``load_admin_keys`` unless given. Raises ConfigError when no key is configured."""
    admins = list(admin_keys if admin_keys is not None else load_admin_keys(conf))
    check = KeyChecker([*(api_keys if api_keys is not None else load_api_keys(conf)), *admins])
    is_admin = KeyChecker(admins)
    backend = Backend.from_conf(conf)
    catalog = Catalog(conf)
    audit = ChatAudit.from_conf(conf, catalog)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        backend.connect()
        audit.start()
        yield
        await backend.close()
        await run_in_threadpool(audit.close)  # appends the replies still buffered

    app = ReadAPI(
        title="profilake read API",
        version="1",
        description="Customer profiles for support chatbots (docs/serving.md).",
        lifespan=lifespan,
    )
    app.state.backend = backend
    app.add_exception_handler(RequestValidationError, _short_validation_error)
    header = APIKeyHeader(name="X-API-Key", auto_error=False)

    async def authorized(key: str | None = Depends(header)) -> None:
        if not check(key):
            raise HTTPException(401, "missing or invalid API key", {"WWW-Authenticate": "ApiKey"})

    async def admin(key: str | None = Depends(header)) -> str:
        """An admin key: 401 without a valid key, 403 for a read-only one. Returns who asked
        (a short hash of the key, for the ``identity_unmerges`` row)."""
        await authorized(key)
        if not is_admin(key):
            raise HTTPException(403, "this key may read but not undo merges")
        return "api-key:" + hashlib.sha256(str(key).encode()).hexdigest()[:8]

    errors = {401: {"description": "missing or invalid API key"}, 404: {}, 422: {}, 503: {}}
    history = ExportHistory(
        catalog.path("chatbot_export"),
        catalog.path("chatbot_identifiers"),
        int(conf.get("cache.max_redirect_hops")),
        int(conf.get("api.history_versions_kept")),
    )

    @app.get(
        "/v1/profiles/{profile_id}",
        response_model=ProfileOut,
        responses={**errors, 400: {}, 410: {}},
        dependencies=[Depends(authorized)],
        tags=["profiles"],
    )
    async def get_profile(
        profile_id: str = PathParam(pattern=PROFILE_ID_PATTERN, examples=["p_0123456789abcdef"]),
        as_of: str | None = Query(None, description="ISO-8601 time with offset: served then"),
        version: str | None = Query(None, description="a chatbot_export version: served then"),
    ):
        """A profile by id (a merged-away id answers with the survivor); with ``as_of`` or
        ``version``, the document the export held at that moment (Delta time travel)."""
        if as_of is None and version is None:
            return _respond(backend.composer, await backend.find("p", profile_id), profile_id)
        try:
            if as_of is not None and version is not None:
                raise BadMoment("give as_of or version, not both")
            at = parse_as_of(as_of) if as_of is not None else None
            number = parse_version(version) if version is not None else None
            past = await run_in_threadpool(history.find, profile_id, at, number)
        except BadMoment as exc:
            raise HTTPException(400, str(exc)) from exc
        except NotThen as exc:
            raise HTTPException(404, str(exc)) from exc
        except Gone as exc:
            raise HTTPException(410, str(exc)) from exc
        except TableUnavailable as exc:
            raise HTTPException(503, f"profile store unavailable: {exc}") from exc
        return Response(past.body(profile_id), media_type="application/json",
                        headers={"X-Profile-Source": "history"})

    @app.get(
        "/v1/lookup/{id_type}/{id_value}",
        response_model=ProfileOut,
        responses=errors,
        dependencies=[Depends(authorized)],
        tags=["profiles"],
    )
    async def lookup(id_type: IdType, id_value: str = PathParam(max_length=320)):
        """A profile by identifier: emails and phones (E.164) are normalized and hashed here
        exactly as the export hashed them; social handles are ``platform:handle``."""
        value = normalize(id_type.value, id_value)
        if value is None:
            raise HTTPException(422, f"not a valid {id_type.value}")
        if id_type.value in backend.hashed:
            value = hmac_hex(backend.pepper, value)
        found = await backend.find("i", f"{id_type.value}:{value}")
        return _respond(backend.composer, found, None)

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        """The process is alive."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    async def readyz():
        """Ready when Redis answers or the Delta export can be read."""
        state = await backend.ready()
        ok = state["redis"] or state["delta"]
        return JSONResponse({"ready": ok, **state}, status_code=200 if ok else 503)

    _add_chat(app, conf, authorized, audit)
    add_merge_routes(app, conf, authorized, admin)
    timeline = ProfileTimeline(history.export, int(conf.get("api.console.timeline_commits")))
    add_console(app, authorized, timeline)
    counters = add_metrics(app, conf, authorized)
    # Requests are counted around the fast path, which hands every other request to FastAPI.
    app.front = RequestMetrics(FastReads(_Stack(app), backend, check), counters)
    return app


def _add_chat(app: FastAPI, conf: Conf, authorized, audit: ChatAudit) -> None:
    """The reference chatbot over HTTP (``POST /v1/chat``) and a tiny page at ``/chat``; every
    reply is queued for the ``chat_audit`` table (pipelines/serving/audit.py)."""
    import json

    from pipelines.chatbot.bot import ChatBot

    backend: Backend = app.state.backend

    async def lookup(id_type: str, id_value: str) -> dict[str, Any] | None:
        value = normalize(id_type, id_value)
        if value is None:
            raise HTTPException(422, f"not a valid {id_type}")
        if id_type in backend.hashed:
            value = hmac_hex(backend.pepper, value)
        try:
            found = await backend.find("i", f"{id_type}:{value}")
        except HTTPException as exc:
            if exc.status_code == 404:
                return None
            raise
        body, _source = _body(backend.composer, found, None)
        return json.loads(body)

    bot = ChatBot(default_language=str(conf.get("chatbot.default_language")))

    @app.post("/v1/chat", dependencies=[Depends(authorized)], tags=["chatbot"])
    async def chat(body: ChatIn) -> dict[str, Any]:
        """One chatbot turn for a customer: the reply and why it was chosen; ``audit_id`` names
        its ``chat_audit`` row."""
        profile = await lookup(body.id_type.value, body.id_value)
        reply = bot.reply(body.message, profile).as_dict()
        row = audit_row(reply, profile, body.id_type.value, datetime.now(UTC))
        audit.record(row)
        return {**reply, "audit_id": row["audit_id"]}

    @app.get("/chat", response_class=HTMLResponse, include_in_schema=False)
    async def chat_page(_request: Request) -> str:
        from pipelines.chatbot.page import CHAT_PAGE

        return CHAT_PAGE


def app_from_env() -> FastAPI:
    """uvicorn factory: the app for ``PROFILAKE_ENV``'s conf, or for the resolved conf in the
    JSON file ``PROFILAKE_CONF_JSON`` names (benchmarks and demos on scratch lakehouses)."""
    return create_app(load_conf_or_dump())
