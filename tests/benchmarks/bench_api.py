"""Read API latency at a fixed 1,000 requests/s: cache path and Delta fallback path.

~10k synthetic profiles (``scale=small``: 10,000; ``full``: 100,000) are exported through the
gate, loaded into Redis under a scratch key prefix, and served by uvicorn in a child process
(one worker, uvloop/httptools when installed). A load generator in another process
(tests/benchmarks/loadgen.py) sends an open-loop 1,000 req/s for 10 s of random profile-id
and customer-id lookups, once against the API with Redis and once against an API whose Redis
is unreachable (every request served from the Delta export by delta-rs). The cache path is
measured again by vegeta (``api_cache_path_1000rps_vegeta``; built by ``make bench`` when Go is
installed), whose timers are precise where loadgen's are not (``_vegeta``). Bar: cache-path
p99 ≤ 2 ms at 1,000 req/s; the server's CPU per request is reported with every figure.

Freshness (an event produced to Kafka until the API shows it): the profiles stream runs
in this process on a scratch topic with its chatbot hop on (``streaming.chatbot_sync``), the
API serves the same export and cache, and ``freshness_kafka_to_api`` times 12 updates (each
waits for a micro-batch, so a sample costs tens of seconds on 2 cores).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.config import Conf, overridden
from tests.helpers import free_port

RATE = 1000
DURATION_S = 10
KEY = "bench-" + uuid.uuid4().hex


def _export(conf: Conf, n: int) -> dict[str, Any]:
    from pipelines.catalog import Catalog
    from pipelines.serving import cache
    from pipelines.serving.export import build_export
    from pipelines.serving.params import ExportParams
    from pipelines.serving.publish import write_export
    from pipelines.serving.records import export_records
    from pipelines.serving.samples import sample_profiles, sample_segments
    from pipelines.session import get_spark

    spark = get_spark(conf, "profilake-bench-api")
    now = datetime.now(UTC).replace(tzinfo=None)
    params = ExportParams.from_conf(conf)
    catalog = Catalog(conf)
    started = time.perf_counter()
    export = build_export(
        sample_profiles(spark, n, now), sample_segments(spark, n, now), params, exported_at=now
    )
    write_export(
        catalog, export, rows_per_file=params.rows_per_file, row_group_bytes=params.row_group_bytes
    )
    export_s = time.perf_counter() - started
    started = time.perf_counter()
    written = spark.read.format("delta").load(catalog.path("chatbot_export"))
    refresh = cache.full_refresh(conf, export_records(written))
    return {
        "export_s": round(export_s, 1),
        "cache_load_s": round(time.perf_counter() - started, 1),
        "cached": refresh.written,
    }


def _paths(n: int, count: int = 20000, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        k = rng.randrange(1, n + 1)
        if rng.random() < 0.5:
            out.append(f"/v1/profiles/p_{k:016x}")
        else:
            out.append(f"/v1/lookup/customer_id/C{k:07d}")
    return out


def _load(url: str, paths: list[str], rate: float = RATE, duration: float = DURATION_S) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        fh.write("\n".join(paths))
        paths_file = fh.name
    cmd = [
        sys.executable, "-m", "tests.benchmarks.loadgen", "--url", url, "--paths", paths_file,
        "--rate", str(rate), "--duration", str(duration), "--header", f"X-API-Key={KEY}",
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"load generator failed: {done.stderr[-2000:]}")
    Path(paths_file).unlink()
    return json.loads(done.stdout.strip().splitlines()[-1])


def _measured(api, run: Callable[[], tuple[dict, int]]) -> dict[str, Any]:
    """``run``'s figures plus the server's CPU per request it served and the host's load
    average (other processes on a shared host stretch the tail latencies). ``run`` returns
    its figures and how many requests the server answered meanwhile."""
    cpu = api.cpu_s()
    result, served = run()
    cpu = api.cpu_s() - cpu
    return {
        **result,
        "server_cpu_us_per_req": round(cpu / served * 1e6),
        "host_load_avg_1m": round(os.getloadavg()[0], 1),
    }


def _loadgen(api, paths: list[str]) -> dict[str, Any]:
    def run() -> tuple[dict, int]:
        result = _load(api.url, paths)
        return result, result["sent"] + int(RATE * 1.0)  # the warm-up second is served too

    return _measured(api, run)


VEGETA = Path(__file__).resolve().parents[2] / "var" / "tools" / "vegeta"


def _vegeta(api, paths: list[str], rate: float = RATE, duration: float = DURATION_S) -> dict:
    """The same open-loop load from vegeta (Go; ``make bench`` builds it into var/tools when a
    Go toolchain is present): its timers fire within microseconds of each request's due time,
    where loadgen's asyncio loop wakes up to ~1 ms late (its ``send_late_p99_ms``), which
    lands in loadgen's latencies. A one-second attack first warms the connections."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as fh:
        fh.write("".join(f"GET {api.url}{p}\nX-API-Key: {KEY}\n\n" for p in paths))
        targets = fh.name

    def attack(seconds: float) -> dict:
        cmd = f"{VEGETA} attack -targets={targets} -rate={int(rate)}/s -duration={seconds}s " \
              f"-workers=64 -max-workers=64 | {VEGETA} report -type=json"
        done = subprocess.run(cmd, shell=True, capture_output=True, text=True, check=True)
        return json.loads(done.stdout)

    def run() -> tuple[dict, int]:
        report = attack(duration)
        ms = {k: round(v / 1e6, 3) for k, v in report["latencies"].items()}
        return {
            "generator": "vegeta",
            "sent": report["requests"],
            "ok": report["status_codes"].get("200", 0),
            "errors": len(report["errors"]),
            "achieved_rps": round(report["throughput"], 1),
            "p50_ms": ms["50th"], "p95_ms": ms["95th"], "p99_ms": ms["99th"], "max_ms": ms["max"],
        }, report["requests"]  # fmt: skip

    try:
        attack(1)
        return _measured(api, run)
    finally:
        Path(targets).unlink()


def _sources(url: str, paths: list[str]) -> dict[str, int]:
    import httpx

    seen: dict[str, int] = {}
    for p in paths[:50]:
        source = httpx.get(url + p, headers={"X-API-Key": KEY}).json().get("source", "?")
        seen[source] = seen.get(source, 0) + 1
    return seen


def run(ctx) -> list[dict[str, Any]]:
    from pipelines.services import redis_server
    from pipelines.serving.cache import drop_prefix
    from pipelines.serving.server import api_process

    n = 10_000 if ctx.scale == "small" else 100_000
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    conf = overridden(ctx.conf, {"cache.prefix": prefix})
    was_running = redis_server.status(conf)["running"]
    redis_server.start(conf)
    rows: list[dict[str, Any]] = []
    try:
        setup = _export(conf, n)
        paths = _paths(n)
        with api_process(conf, KEY, port=free_port()) as api:
            assert _sources(api.url, paths) == {"cache": 50}
            rows.append({"name": "api_cache_path_1000rps", "profiles": n, **_loadgen(api, paths)})
            rows[-1].update(setup)
            if VEGETA.exists():
                rows.append({"name": "api_cache_path_1000rps_vegeta", "profiles": n,
                             **_vegeta(api, paths)})
            else:
                print("· vegeta not built (no Go toolchain): the cache path is measured by "
                      "loadgen alone")
            rows.append(_stream_freshness(conf, api.url))
        no_redis = overridden(conf, {"redis.port": free_port()})
        with api_process(no_redis, KEY, port=free_port()) as api:
            assert _sources(api.url, paths) == {"delta": 50}
            rows.append(
                {"name": "api_delta_fallback_1000rps", "profiles": n, **_loadgen(api, paths)}
            )
    finally:
        drop_prefix(redis_server.client(conf), prefix)
        if not was_running:
            redis_server.stop(conf)
    return rows


def _stream_freshness(conf: Conf, api_url: str) -> dict[str, Any]:
    """Run the profiles stream (chatbot hop on) on a scratch topic while timing updates."""
    from pipelines.services.kafka import create_topic
    from pipelines.session import get_spark
    from pipelines.stream.runner import start_profile_stream
    from pipelines.stream.settings import StreamSettings, stream_conf

    conf = overridden(conf, {"streaming.chatbot_sync": True})
    topic = create_topic(str(conf.get("kafka.bootstrap_servers")),
                         f"profilake.bench.api.{uuid.uuid4().hex[:8]}", partitions=1)
    spark = get_spark(stream_conf(conf), "bench-api-stream")
    settings = StreamSettings.from_conf(conf).with_overrides(
        topics=(topic,), query_name=f"bench_api_{topic.rsplit('.', 1)[1]}")
    stream = start_profile_stream(spark, conf, settings=settings)
    try:
        return freshness_kafka_to_api(conf, api_url, topic=topic)
    finally:
        stream.stop()


def freshness_kafka_to_api(
    conf: Conf, api_url: str, topic: str, samples: int = 12, timeout_s: float = 120
) -> dict[str, Any]:
    """Event produced to Kafka → visible in the API, p50/p99 seconds.

    Needs the streaming job running against ``conf`` on ``topic`` and an API (``api_url``)
    serving its export: for each sample, a ``profile_updated`` event sets a unique first_name
    on customer C0000001 and the API is polled every 10 ms until it shows it. The first
    update (which creates the profile) is a warm-up, not a sample.
    """
    import httpx
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=str(conf.get("kafka.bootstrap_servers")))
    lags = []
    with httpx.Client(base_url=api_url, headers={"X-API-Key": KEY}) as http:
        for i in range(samples + 1):
            marker = "Fresh" + uuid.uuid4().hex[:8]
            event = {
                "event_id": str(uuid.uuid4()),
                "event_type": "profile_updated",
                "event_time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                "source": "crm",
                "identifiers": {"customer_id": "C0000001"},
                "properties": {"attributes": {"first_name": marker}},
                "schema_version": 1,
            }
            sent = time.perf_counter()
            producer.send(topic, json.dumps(event).encode(), key=b"C0000001").get(10)
            while time.perf_counter() - sent < (timeout_s * 5 if i == 0 else timeout_s):
                body = http.get("/v1/lookup/customer_id/C0000001").json()
                if body.get("first_name") == marker:
                    if i:
                        lags.append(time.perf_counter() - sent)
                    break
                time.sleep(0.01)
    producer.close()
    lags.sort()
    return {
        "name": "freshness_kafka_to_api",
        "samples": len(lags),
        "p50_s": round(lags[len(lags) // 2], 3) if lags else None,
        "p99_s": round(lags[min(len(lags) - 1, int(len(lags) * 0.99))], 3) if lags else None,
        "max_s": round(lags[-1], 3) if lags else None,
    }
