"""``GET /metrics``: the monitor's latest metrics (``metrics`` table) and the API's request
counters in Prometheus text format.

No API key by default (``monitor.metrics_require_api_key: false``): Prometheus scrapes
usually carry no credentials, and the page holds counts, rates and ages labelled by lane,
source, table and column, never a profile or an identifier. Keep the API's port off the
public network (it is bound to ``api.host``, loopback by default) or set the key to true and
give the scraper a key (``authorization`` → ``X-API-Key`` header in its scrape config).
"""

from __future__ import annotations

from fastapi import Depends, FastAPI
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from pipelines.catalog import Catalog
from pipelines.config import Conf
from pipelines.monitoring.prometheus import CONTENT_TYPE, LatestMetrics, render
from pipelines.serving.request_metrics import TYPES, RequestCounters


def add_metrics(app: FastAPI, conf: Conf, authorized) -> RequestCounters:
    """Serve ``/metrics``; returns the counters for ``RequestMetrics`` to feed (the API puts
    it in front of everything, api.ReadAPI)."""
    counters = RequestCounters()
    latest = LatestMetrics(Catalog(conf).path("metrics"),
                           int(conf.get("monitor.metrics_lookback_days")),
                           float(conf.get("api.delta_refresh_s")))
    guard = [Depends(authorized)] if conf.get("monitor.metrics_require_api_key") else []

    @app.get("/metrics", dependencies=guard, tags=["ops"], response_class=Response)
    async def metrics() -> Response:
        """Prometheus text format: the monitor's latest metrics and the API's requests."""
        samples = await run_in_threadpool(latest.samples)
        return Response(render([*samples, *counters.samples()], TYPES),
                        media_type=CONTENT_TYPE)

    return counters
