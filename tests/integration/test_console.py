"""The agent console in a real headless Chromium (tests/cdp.py) against the real API served by
uvicorn, on a tiny lakehouse written with the export code: look-up, timeline and undo flows
asserted on the DOM, and a screenshot saved as a test artifact.

The merge endpoints are the API's own, over real ``identity_merges`` / ``identity_unmerges``
tables; only the undo's child process is a stand-in (tests/undo_stand_in.py records the undo
as the real job's last step does): ``profilake-unmerge`` itself runs in test_unmerge.py.
"""

from __future__ import annotations

import hashlib
import json
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.responses import JSONResponse

from pipelines.catalog import Catalog
from pipelines.config import overridden, relocated
from pipelines.identity.schemas import MERGES
from pipelines.services import redis_server
from pipelines.serving import cache
from pipelines.serving.api import create_app
from pipelines.serving.params import ExportParams
from pipelines.serving.publish import sync_touched
from pipelines.serving.undo import UndoJobs
from tests.cdp import Browser, Page
from tests.serving_data import ANNA, BOB, DAN, people, profiles_df, ts
from tests.undo_stand_in import record_undo

AGENT = "agent-" + uuid.uuid4().hex[:8]
ADMIN = "admin-" + uuid.uuid4().hex[:8]
EVE = "p_eeeeeeeeeeeeeee5"  # merged into Bob earlier, already undone
SEGMENT_SCHEMA = (
    "profile_id string, as_of timestamp, rule_segments array<string>, cluster_name string, "
    "churn_score double, churn_band string, rfm_label string, churn_reasons array<string>, "
    "segment_reasons array<struct<segment:string,condition:string,kept:boolean>>"
)
BOB_CHURN_REASONS = ["no order for 12 days", "low CSAT (2.0)", "an open high-priority ticket"]
BOB_SEGMENT_REASONS = [
    ("at_risk", "churn_band = 'high'", False),
    ("high_value", "net_spend >= 500", True),
]


def _merge_id(survivor: str, merged: str, record: str) -> str:
    """The rule (pipelines/identity/merge_ids.py), computed here independently."""
    return hashlib.sha256(f"{survivor}|{merged}|{record}".encode()).hexdigest()[:16]


DAN_MERGE = _merge_id(BOB, DAN, "e-merge")
EVE_MERGE = _merge_id(BOB, EVE, "e-merge-eve")


def _segments(spark):
    return spark.createDataFrame(
        [
            (BOB, ts("2026-09-01T02:00:00"), ["at_risk", "high_value"], "lapsing", 0.81,
             "high", "at_risk", BOB_CHURN_REASONS,
             [{"segment": s, "condition": c, "kept": k} for s, c, k in BOB_SEGMENT_REASONS]),
            (ANNA, ts("2026-09-01T02:00:00"), ["vip"], "gadget_fans", 0.05, "low", "champion",
             ["ordered 2 times in 30 days"],
             [{"segment": "vip", "condition": "account_tier = 'premium'", "kept": False}]),
        ],
        SEGMENT_SCHEMA,
    )


def _write_merges(path: str, rows: list[tuple]) -> None:
    """identity_merges rows (pipelines/identity/schemas.py's MERGES), written with delta-rs:
    a real Delta table without a Spark job."""
    import pyarrow as pa
    from deltalake import write_deltalake

    utc = pa.timestamp("us", tz="UTC")
    types = {f.name: utc if f.dataType.typeName() == "timestamp" else pa.string()
             for f in MERGES.fields}
    columns = [list(c) for c in zip(*rows, strict=True)]
    table = pa.table({name: pa.array(col, types[name])
                      for name, col in zip(types, columns, strict=True)})
    write_deltalake(path, table)


def _bob(**changes: Any) -> dict[str, Any]:
    bob = next(p for p in people() if p["profile_id"] == BOB)
    ids = {**bob["identifiers"], "device_id": ["dev-bob", "dev-dan"]}  # Dan's came with the merge
    return {**bob, "identifiers": ids, **changes}


@pytest.fixture(scope="module")
def lake(spark, redis_conf, tmp_path_factory) -> Iterator[dict[str, Any]]:
    """The export as the stream writes it (export code, gate, Redis): the three customers at
    their versions (Bob at 7), then Bob at 8. identity_merges holds Bob's two merges."""
    root = str(tmp_path_factory.mktemp("console") / "var")
    prefix = f"t{uuid.uuid4().hex[:8]}"
    # Every path under the module's own root, logs included: the undo jobs the test starts
    # leave their files in paths.logs, which the next run must not find.
    conf = overridden(relocated(redis_conf, root), {"cache.prefix": prefix})
    catalog, params = Catalog(conf), ExportParams.from_conf(conf)
    _write_merges(catalog.path("identity_merges"), [
        (BOB, EVE, "email", "e" * 64, "e-merge-eve", ts("2026-08-20T08:00:00"),
         ts("2026-08-02T10:00:00")),
        (BOB, DAN, "device_id", "dev-dan", "e-merge", ts("2026-08-31T20:00:00"),
         ts("2026-08-05T10:00:00")),
    ])
    record_undo(catalog.path("identity_unmerges"), EVE_MERGE, ADMIN, "undone before the test")
    segments = _segments(spark)
    first = [_bob() if p["profile_id"] == BOB else p for p in people()]
    for rows in (first, [_bob(version=8, intent="browsing")]):
        sync_touched(catalog, conf, profiles_df(spark, rows), params=params, segments=segments,
                     prefix=prefix)
    yield {"conf": conf, "catalog": catalog}
    client = redis_server.client(conf)
    cache.drop_prefix(client, prefix)


@dataclass
class Served:
    url: str
    undos: UndoJobs
    hide_merges: bool = False  # answer /merges with 404, as an API without those routes


@pytest.fixture(scope="module")
def served(lake) -> Iterator[Served]:
    """The API under uvicorn on an ephemeral loopback port, in a thread of this process."""
    import uvicorn

    app = create_app(lake["conf"], api_keys=[AGENT], admin_keys=[ADMIN])
    undos = app.state.undo_jobs
    undos.command = (sys.executable, str(Path(__file__).parents[1] / "undo_stand_in.py"),
                     lake["catalog"].path("identity_unmerges"))
    state = Served("", undos)

    @app.middleware("http")
    async def older_api(request, call_next):
        if state.hide_merges and request.url.path.endswith("/merges"):
            return JSONResponse({"detail": "Not Found"}, 404)
        return await call_next(request)

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    uv = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the API did not start"
        time.sleep(0.05)
    state.url = f"http://127.0.0.1:{port}"
    yield state
    uv.should_exit = True
    thread.join(15)
    sock.close()


@pytest.fixture(scope="module")
def server(served) -> str:
    return served.url


@pytest.fixture(scope="module")
def page(server) -> Iterator[Page]:
    browser = Browser()
    try:
        yield browser.start()
    finally:
        browser.stop()


def _visible(selector: str) -> str:
    return f"(() => {{ const e = document.querySelector({json.dumps(selector)}); " \
           "return !!e && !e.closest('[hidden]'); })()"


def _enter_key(page: Page, key: str, accepted: bool = True) -> None:
    page.wait(_visible("#key"))
    page.type_into("#key", key)
    page.click("#key-submit")
    if accepted:
        page.wait(_visible("#q"))


def _facts(page: Page, selector: str) -> dict[str, str]:
    """A <dl>'s terms and their descriptions as shown."""
    return dict(page.js(f"[...document.querySelectorAll({json.dumps(selector + ' > dt')})]"
                        ".map(e => [e.innerText, e.nextElementSibling.innerText])"))


def _look_up(page: Page, query: str, expected_profile: str) -> None:
    page.js("document.getElementById('profile-id')?.remove()")  # wait for a fresh render
    page.type_into("#q", query)
    page.click("#lookup-submit")
    shown = f"document.getElementById('profile-id')?.innerText === {json.dumps(expected_profile)}"
    page.wait(shown)
    page.wait("!['#timeline', '#merges'].some(s => "
              "document.querySelector(s + ' .body').innerText.includes('loading'))")


def test_a_wrong_key_gets_a_clear_message_and_no_console(page, server):
    page.goto(f"{server}/console")
    assert page.js("document.getElementById('main').hidden") is True
    _enter_key(page, "not-a-key", accepted=False)
    message = page.wait("document.getElementById('key-message').innerText")
    assert "refused" in message and "401" in message
    assert page.js("document.getElementById('main').hidden") is True
    assert page.js("sessionStorage.length") == 0  # a refused key is not kept


def test_look_up_by_email_and_by_device_id(page):
    _enter_key(page, AGENT)
    assert page.js("Object.values(sessionStorage)") == [AGENT]

    _look_up(page, "  Anna.Schmidt@Example.org ", ANNA)
    assert page.text("#profile-name") == "Anna Schmidt"
    assert page.texts("#segment-list .segment") == ["vip\nbecause account_tier = 'premium'"]
    assert page.text("#churn-band") == "low risk"
    assert page.texts("#churn-reasons li") == ["ordered 2 times in 30 days"]
    assert "SKU-10003" in page.text("#cart-lines")

    page.type_into("#q", "nobody@example.org")
    page.click("#lookup-submit")
    assert page.wait("document.getElementById('status').innerText.startsWith('No customer')")
    assert page.js("document.getElementById('result').hidden") is True

    _look_up(page, "dev-dan", BOB)  # a device id the merge moved to Bob
    assert page.text("#profile-name") == "Bob Jones"
    facts = _facts(page, "#profile .body dl")
    assert (facts["tier"], facts["language"], facts["country"]) == ("standard", "en", "US")
    assert facts["version"] == "8"  # the newest sync
    assert page.js("document.getElementById('status').innerText") == "Found by device id."
    assert page.texts("#segment-list .segment") == [
        "at_risk\nbecause churn_band = 'high'",
        "high_value\nbecause net_spend >= 500 (kept: still near the threshold)",
    ]
    assert page.text("#churn-band") == "high risk"
    assert page.texts("#churn-reasons li") == BOB_CHURN_REASONS
    assert page.text("#open-tickets") == "1" and "T-9" in page.text("#tickets")
    assert _facts(page, "#tickets dl")["status"] == "pending"
    # conf's next_best_actions: at risk + open ticket + net_spend >= 500, and an open ticket.
    assert page.js("[...document.querySelectorAll('#action-list li')].map(e => "
                   "e.dataset.action)") == ["escalate_at_risk_high_value",
                                           "follow_up_open_ticket"]


def test_the_timeline_lists_the_versions_newest_first(page, server):
    versions = page.js("[...document.querySelectorAll('#timeline-list > li')]"
                       ".map(e => Number(e.dataset.profileVersion))")
    assert versions == [8, 7]
    newer, first = page.texts("#timeline-list > li")
    assert "update" in newer and newer.endswith("intent: — → browsing")  # nothing else changed
    assert "insert" in first

    r = httpx.get(f"{server}/v1/profiles/{BOB}/history", headers={"X-API-Key": AGENT})
    exported = [e["export_version"] for e in r.json()["entries"]]
    assert exported == sorted(exported, reverse=True) and len(set(exported)) == 2
    assert httpx.get(f"{server}/v1/profiles/{BOB}/history").status_code == 401
    bad = httpx.get(f"{server}/v1/profiles/p_nothex/history", headers={"X-API-Key": AGENT})
    assert bad.status_code == 422


def _merge_row(merge: str) -> str:
    return f"#merge-list li[data-merge-id='{merge}']"


def _undos_started(served: Served) -> list[str]:
    return [u["merge_id"] for u in served.undos.started()]


def test_undo_needs_an_admin_key_then_shows_the_merge_undone(page, served, base_conf):
    assert page.js("document.querySelectorAll('#merge-list li').length") == 2
    assert page.text(_merge_row(EVE_MERGE)).endswith("undone")
    assert page.js(f"document.querySelector(\"{_merge_row(EVE_MERGE)} button\")") is None

    page.click(f"{_merge_row(DAN_MERGE)} button.undo")  # first click arms, second confirms
    assert page.text(f"{_merge_row(DAN_MERGE)} button.undo") == "Confirm undo"
    page.click(f"{_merge_row(DAN_MERGE)} button.undo")
    assert "admin keys only" in page.wait("document.getElementById('merge-message').innerText")
    assert _undos_started(served) == []  # refused with 403 before any job
    assert page.js("document.querySelectorAll('button.undo').length") == 0

    page.click("#change-key")
    _enter_key(page, ADMIN)
    _look_up(page, "C0000002", BOB)
    page.click(f"{_merge_row(DAN_MERGE)} button.undo")
    page.click(f"{_merge_row(DAN_MERGE)} button.undo")
    page.wait(f"document.querySelector(\"{_merge_row(DAN_MERGE)}\")?.dataset.undone === 'true'")
    assert _undos_started(served) == [DAN_MERGE]
    # --by names the admin key by the first 8 hex digits of its SHA-256, never the key itself.
    by = "api-key:" + hashlib.sha256(ADMIN.encode()).hexdigest()[:8]
    assert [u["by"] for u in served.undos.started()] == [by]
    assert page.text(_merge_row(DAN_MERGE)).endswith("undone")

    shot = page.screenshot(Path(base_conf.path("paths.root")) / "artifacts" / "console.png")
    print(f"console screenshot: {shot}")
    assert shot.stat().st_size > 10_000


def test_merges_unavailable_when_the_api_has_no_merge_routes(page, served):
    served.hide_merges = True
    try:
        _look_up(page, "C0000001", ANNA)
        assert page.text("#merges-unavailable") == "merges unavailable"
    finally:
        served.hide_merges = False
