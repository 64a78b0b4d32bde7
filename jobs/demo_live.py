"""Demo step 7: a cart add during a chat, visible through the read API within milliseconds.

Both lanes run on the events topic: the Delta lane (the profiles stream, in-process) catches up
with what Kafka holds and publishes each profile's base to the cache; the hot lane (a thread
here, ``profilake-hot`` in production) and the read API (a child process) start; one
``add_to_cart`` is sent for a known customer. The demo polls the API until the cart shows it
(the hot lane's latency, in ms), then until the Delta lane's base holds it too (nothing
pending any more: the Delta lane's latency, in seconds), and prints both.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from pipelines.config import Conf
from pipelines.events.envelope import build_envelope, serialize
from pipelines.events.producer import synthetic_population
from pipelines.hot.lane import HotLane
from pipelines.serving.server import api_process
from pipelines.stream.runner import start_profile_stream
from pipelines.stream.settings import StreamSettings

KEY = "demo-live"


@dataclass(frozen=True)
class LiveResult:
    customer_id: str
    sku: str
    hot_ms: float | None  # sent → visible through the API (None: not within the timeout)
    delta_s: float | None  # sent → in the Delta lane's base (nothing pending)
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def _wait_idle(query, timeout_s: float) -> None:
    """Until the stream has processed everything Kafka held when it started."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = query.status
        if query.lastProgress is not None and not status["isDataAvailable"] \
                and not status["isTriggerActive"]:
            return
        if query.exception() is not None:
            raise RuntimeError(f"stream failed: {query.exception()}")
        time.sleep(0.5)


def _send(settings: StreamSettings, key: str, payload: bytes) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all",
                             client_id="profilake-demo")
    try:
        producer.send(settings.topics[0], payload, key.encode()).get(timeout=10)
    finally:
        producer.close(timeout=5)


def _show(p: dict[str, Any] | None) -> str:
    if p is None:
        return "not served yet"
    cart = ", ".join(f"{line['sku']}×{line['quantity']}" for line in p.get("cart") or [])
    return (f"v{p['profile_version']} (base v{p['base_version']}, {p['pending_events']} pending)"
            f" intent={p.get('intent')} cart=[{cart}] cart_value={p.get('cart_value')}")


def live_demo(
    conf: Conf,
    spark,
    *,
    customer_index: int = 0,
    catch_up_timeout_s: float = 600.0,
    timeout_s: float = 120.0,
    out: Callable[[str], None] = print,
) -> LiveResult:
    """Run the live demo (module docstring). The customer is number ``customer_index`` of the
    producer's synthetic population, so after a produce run it has a profile."""
    settings = StreamSettings.from_conf(conf).with_overrides(trigger_interval="500 milliseconds")
    customer = synthetic_population(int(conf.get("generator.customers")),
                                    int(conf.get("generator.seed")))[customer_index]
    stream = start_profile_stream(spark, conf, settings=settings)
    stop = threading.Event()
    lane = HotLane(conf)
    hot = threading.Thread(target=lane.run, args=(stop.is_set,), daemon=True)
    try:
        out(f"Delta lane '{settings.query_name}' started; catching up with {settings.topics[0]} …")
        _wait_idle(stream.query, catch_up_timeout_s)
        hot.start()
        with api_process(conf, KEY) as api, httpx.Client(base_url=api.url) as http:
            url = f"/v1/lookup/customer_id/{customer.customer_id}"

            def served() -> dict[str, Any] | None:
                r = http.get(url, headers={"X-API-Key": KEY})
                return r.json() if r.status_code == 200 else None

            before = served()
            out(f"hot lane and read API up; {customer.customer_id} before: {_show(before)}")
            envelope = build_envelope("add_to_cart", customer, random.Random(), time.time())
            envelope["identifiers"]["customer_id"] = customer.customer_id  # a logged-in visit
            sku = envelope["properties"]["sku"]
            sent = time.monotonic()
            _send(settings, customer.key, serialize(envelope))
            out(f"sent add_to_cart {sku} ×{envelope['properties']['quantity']}")
            hot_ms = delta_s = None
            after = None
            while time.monotonic() - sent < timeout_s:
                current = served()
                skus = {line["sku"] for line in (current or {}).get("cart") or []}
                if hot_ms is None and sku in skus:
                    hot_ms, after = (time.monotonic() - sent) * 1000, current
                    out(f"through the API after {hot_ms:,.0f} ms: {_show(current)}")
                if hot_ms is not None and current and current["pending_events"] == 0:
                    delta_s = time.monotonic() - sent
                    out(f"in the Delta lane's base after {delta_s:,.1f} s: {_show(current)}")
                    break
                time.sleep(0.01 if hot_ms is None else 0.25)
            if hot_ms is None:
                out(f"not visible after {timeout_s:.0f}s")
        return LiveResult(customer.customer_id, sku, hot_ms, delta_s, before, after)
    finally:
        stop.set()
        if hot.is_alive():
            hot.join(30)
        stream.stop()
