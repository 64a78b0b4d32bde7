"""Open-loop HTTP load generator: a fixed request rate, latency measured from the schedule.

    python -m tests.benchmarks.loadgen --url http://127.0.0.1:18080 --rate 1000 --duration 10 \
        --header X-API-Key=k --paths paths.txt

Request *i* is due at start + i / rate whatever happened before (open loop), and its latency
runs from that due time to the last byte of the response, so a server that stalls is charged
for the requests queued behind the stall (no coordinated omission). Requests go over a pool of
keep-alive HTTP/1.1 connections with raw asyncio streams (uvloop when installed) to keep the
generator's own cost small. Prints one JSON object: sent, ok, errors, statuses, achieved rate
and latency percentiles in milliseconds, and ``send_late_p99_ms``: how late after its due time
a request was written. The event loop's timers have millisecond resolution, so that is up to
~1 ms on an idle machine, and it is part of every latency above.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from urllib.parse import urlsplit


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


async def _connection(host: str, port: int, queue: asyncio.Queue, head: bytes, out: dict) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while True:
            item = await queue.get()
            if item is None:
                return
            due, path = item
            sent = time.perf_counter()
            writer.write(b"GET " + path + head)
            try:
                status_line = await reader.readuntil(b"\r\n")
                headers = await reader.readuntil(b"\r\n\r\n")
                length, source = 0, b"-"
                for line in headers.split(b"\r\n"):
                    name = line[:18].lower()
                    if name.startswith(b"content-length:"):
                        length = int(line[15:])
                    elif name == b"x-profile-source: ":
                        source = line[18:]
                if length:
                    await reader.readexactly(length)
            except (asyncio.IncompleteReadError, ConnectionError):
                out["errors"] += 1
                reader, writer = await asyncio.open_connection(host, port)
                continue
            done = time.perf_counter()
            if due < out["measured_from"]:
                continue  # a warm-up request
            status = int(status_line.split()[1])
            out["statuses"][status] += 1
            out["sources"][source.decode()] += 1
            out["latencies"].append(done - due)
            out["late"].append(sent - due)
    finally:
        writer.close()


async def run(
    url: str,
    paths: list[str],
    rate: float,
    duration: float,
    headers: dict[str, str],
    connections: int = 64,
    warmup_s: float = 1.0,
) -> dict:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    head = (
        " HTTP/1.1\r\nHost: "
        + f"{host}:{port}\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        + "\r\n"
    ).encode()
    encoded = [p.encode() for p in paths]
    queue: asyncio.Queue = asyncio.Queue()
    total = int(rate * (duration + warmup_s))
    warm = int(rate * warmup_s)
    start = time.perf_counter() + 0.05
    measured_from = start + warm / rate
    out: dict = {
        "errors": 0,
        "statuses": Counter(),
        "sources": Counter(),
        "latencies": [],
        "late": [],
        "measured_from": measured_from,
    }
    workers = [
        asyncio.create_task(_connection(host, port, queue, head, out)) for _ in range(connections)
    ]
    # The first warmup_s run at the same rate but are not measured (connections, first calls).
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((due, encoded[i % len(encoded)]))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - measured_from
    lat = sorted(x * 1000 for x in out["latencies"])
    return {
        "sent": total - warm,
        "ok": out["statuses"].get(200, 0),
        "errors": out["errors"],
        "statuses": dict(out["statuses"]),
        "sources": dict(out["sources"]),
        "achieved_rps": round(len(lat) / elapsed, 1),
        "p50_ms": round(percentile(lat, 50), 3),
        "p95_ms": round(percentile(lat, 95), 3),
        "p99_ms": round(percentile(lat, 99), 3),
        "max_ms": round(lat[-1], 3) if lat else float("nan"),
        "send_late_p99_ms": round(percentile(sorted(x * 1000 for x in out["late"]), 99), 3),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--url", required=True)
    p.add_argument("--paths", required=True, help="file with one request path per line")
    p.add_argument("--rate", type=float, default=1000)
    p.add_argument("--duration", type=float, default=10)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--header", action="append", default=[], help="Name=value")
    args = p.parse_args(argv)
    headers = dict(h.split("=", 1) for h in args.header)
    with open(args.paths, encoding="utf-8") as fh:
        paths = [line.strip() for line in fh if line.strip()]
    work = run(args.url, paths, args.rate, args.duration, headers, args.connections)
    try:
        import uvloop

        result = uvloop.run(work)
    except ImportError:
        result = asyncio.run(work)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
