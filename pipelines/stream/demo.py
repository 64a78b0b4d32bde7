"""Demo: a cart add during a chat shows up in the customer's profile within seconds.

``live_update_demo(conf, spark)`` starts the profiles stream in-process (short trigger, the
conf's query and checkpoint, so it updates the real profiles), waits until the stream has
caught up with what Kafka already holds, sends one ``add_to_cart`` for a known customer,
polls the profiles table until the cart shows it, prints the profile before and after and the
seconds it took, and stops the stream. Called from jobs/demo.py.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from pipelines.catalog import Catalog
from pipelines.config import Conf
from pipelines.events.envelope import build_envelope, serialize
from pipelines.events.producer import synthetic_population
from pipelines.stream.runner import start_profile_stream, stop_between_batches
from pipelines.stream.settings import StreamSettings

SHOWN = ("profile_id", "version", "intent", "cart", "cart_value", "orders_count", "net_spend",
         "open_tickets", "updated_at")


@dataclass(frozen=True)
class DemoResult:
    customer_id: str
    event_id: str
    sku: str
    seconds_to_visible: float | None  # None: not visible within the timeout
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def _profile(spark: SparkSession, catalog: Catalog, customer_id: str) -> dict[str, Any] | None:
    from delta.tables import DeltaTable

    path = catalog.path("profiles")
    if not DeltaTable.isDeltaTable(spark, path):
        return None
    rows = (
        spark.read.format("delta").load(path)
        .where(F.array_contains(F.col("identifiers")["customer_id"], customer_id))
        .select(*SHOWN, "last_event_ids")
        .collect()
    )
    return rows[0].asDict(recursive=True) if rows else None


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


def live_update_demo(
    conf: Conf,
    spark: SparkSession,
    *,
    customer_index: int = 0,
    trigger: str = "500 milliseconds",
    catch_up_timeout_s: float = 600.0,
    timeout_s: float = 60.0,
    out: Callable[[str], None] = print,
) -> DemoResult:
    """Send one live ``add_to_cart`` and show the profile change (see the module docstring).

    The customer is number ``customer_index`` of the producer's synthetic population (the one
    ``profilake-produce`` sends events for), so after a produce run it has a profile.
    """
    settings = StreamSettings.from_conf(conf).with_overrides(trigger_interval=trigger)
    catalog = Catalog(conf)
    customer = synthetic_population(int(conf.get("generator.customers")),
                                    int(conf.get("generator.seed")))[customer_index]
    query = start_profile_stream(spark, conf, settings=settings)
    try:
        out(f"stream '{settings.query_name}' started; catching up with {settings.topics[0]} …")
        _wait_idle(query, catch_up_timeout_s)
        before = _profile(spark, catalog, customer.customer_id)
        out(f"before: {_show(before)}")
        rng = random.Random()
        envelope = build_envelope("add_to_cart", customer, rng, time.time())
        envelope["identifiers"]["customer_id"] = customer.customer_id  # a logged-in visit
        sku = envelope["properties"]["sku"]
        sent = time.monotonic()
        _send(settings, customer.key, serialize(envelope))
        out(f"sent add_to_cart {sku} ×{envelope['properties']['quantity']} for "
            f"{customer.customer_id} (event {envelope['event_id']})")
        after, seconds = None, None
        while time.monotonic() - sent < timeout_s:
            if query.exception() is not None:
                raise RuntimeError(f"stream failed: {query.exception()}")
            current = _profile(spark, catalog, customer.customer_id)
            if current and envelope["event_id"] in (current.get("last_event_ids") or []):
                after, seconds = current, time.monotonic() - sent
                break
            time.sleep(0.25)
        if after is None:
            out(f"not visible after {timeout_s:.0f}s")
        else:
            out(f"after:  {_show(after)}")
            out(f"visible in the profile {seconds:.1f}s after sending")
        return DemoResult(customer.customer_id, envelope["event_id"], sku, seconds, before,
                          after)
    finally:
        stop_between_batches(query)


def _show(profile: dict[str, Any] | None) -> str:
    if profile is None:
        return "no profile yet"
    cart = ", ".join(f"{line['sku']}×{line['quantity']}" for line in profile["cart"] or [])
    return (f"{profile['profile_id']} v{profile['version']} intent={profile['intent']} "
            f"cart=[{cart}] cart_value={profile['cart_value']}")
