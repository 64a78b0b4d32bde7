"""Posting alerts to a webhook (``monitor.webhook_url``): one JSON POST per alert, with a
timeout and bounded retries. A post that still fails is logged and its failure returned for
the alerts table; it never raises, so a dead receiver cannot stop the monitor."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)
RETRIED_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


def post_json(
    url: str, body: dict, *, timeout_s: float, attempts: int, backoff_s: float,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """POST ``body`` to ``url``; returns ``posted`` or ``failed: <why>``. Connection errors,
    timeouts and 408/425/429/5xx answers are retried (``attempts`` in all, ``backoff_s``
    doubled after each); any other non-2xx answer is final."""
    import httpx

    why, tried = "", 0
    for attempt in range(attempts):
        tried += 1
        if attempt:
            sleep(backoff_s * 2 ** (attempt - 1))
        try:
            response = httpx.post(url, json=body, timeout=timeout_s)
        except httpx.HTTPError as exc:
            why = f"{type(exc).__name__}: {exc}"
            continue
        if 200 <= response.status_code < 300:
            return "posted"
        why = f"HTTP {response.status_code}"
        if response.status_code not in RETRIED_STATUS:
            break
    log.warning("alert webhook post failed after %d attempt(s): %s", tried, why)
    return f"failed: {why}"[:500]
