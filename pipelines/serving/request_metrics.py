"""The read API's own request counters and latency histogram, for ``/metrics``.

A pure-ASGI middleware around the whole app (the fast read path included) counts requests
per route and status and observes their latency: a ``perf_counter`` pair, a bisect and a
few dict updates per request. Routes are the API's fixed path prefixes (never the ids in
them), so the label set stays small. Counters are per process: with ``--workers N`` each
worker counts its own requests.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Mapping

from pipelines.monitoring.prometheus import Sample

PREFIX = "profilake_api_"
# Seconds; the API answers cache hits in about a millisecond, Delta fallbacks in tens.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
ROUTES = ("/v1/profiles", "/v1/lookup", "/v1/chat", "/metrics", "/healthz", "/readyz")
TYPES: Mapping[str, str] = {
    PREFIX + "requests_total": "counter",
    PREFIX + "request_duration_seconds": "histogram",
}


def route_of(path: str) -> str:
    """The fixed route prefix ``path`` falls under, or ``other``."""
    for route in ROUTES:
        if path == route or path.startswith(route + "/"):
            return route
    return "other"


class RequestCounters:
    def __init__(self) -> None:
        self.requests: dict[tuple[str, str], int] = {}
        self.buckets: dict[str, list[int]] = {}  # per route: count per bucket (not cumulative)
        self.sums: dict[str, float] = {}

    def observe(self, route: str, status: int, seconds: float) -> None:
        key = (route, str(status))
        self.requests[key] = self.requests.get(key, 0) + 1
        counts = self.buckets.get(route)
        if counts is None:
            counts = self.buckets[route] = [0] * (len(BUCKETS) + 1)
        counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.sums[route] = self.sums.get(route, 0.0) + seconds

    def samples(self) -> list[Sample]:
        out: list[Sample] = [(PREFIX + "requests_total", {"route": r, "status": s}, float(n))
                             for (r, s), n in sorted(self.requests.items())]
        name = PREFIX + "request_duration_seconds"
        for route, counts in sorted(self.buckets.items()):
            running = 0
            for bound, n in zip((*BUCKETS, float("inf")), counts, strict=True):
                running += n
                le = "+Inf" if bound == float("inf") else repr(bound)
                out.append((name + "_bucket", {"route": route, "le": le}, float(running)))
            out.append((name + "_sum", {"route": route}, self.sums[route]))
            out.append((name + "_count", {"route": route}, float(running)))
        return out


class RequestMetrics:
    """ASGI middleware feeding ``RequestCounters`` (status 500 when the app raised)."""

    def __init__(self, app, counters: RequestCounters):
        self.app = app
        self.counters = counters

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def sending(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.counters.observe(route_of(scope["path"]), status, time.perf_counter() - start)
