"""When things happen, and how each source system writes the time down.

Event times are drawn inside each person's active interval (signup .. churn, clipped to the
window) and follow a local day/night rhythm. Each source formats them its own way; the
formatters here are the single place those formats are defined (docs/sources.md shows them).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.synth.reference import HOURLY_ACTIVITY

_HOUR_CDF = np.cumsum(HOURLY_ACTIVITY) / HOURLY_ACTIVITY.sum()

CRM_FORMAT = "%m/%d/%Y %H:%M"  # naive, in the CRM's configured zone (UTC)
ORDER_FORMAT = "%Y-%m-%dT%H:%M:%S%Ez"  # ISO-8601 with the shop-local offset
TICKET_FORMAT = "%Y-%m-%d %H:%M:%S UTC"
SOCIAL_FORMAT = "%a %b %d %H:%M:%S +0000 %Y"  # Twitter API v1.1 style


def draw_times(
    rng: np.random.Generator,
    start_s: np.ndarray,
    end_s: np.ndarray,
    decaying: np.ndarray,
    utc_offset_s: np.ndarray,
) -> np.ndarray:
    """One UTC epoch second per row inside ``[start_s, end_s)``.

    Rows flagged ``decaying`` (at-risk customers) are front-loaded in their interval: their
    activity fades towards the end of the window. Times follow a local hour-of-day profile
    (``utc_offset_s`` is the person's offset) whenever that stays inside the interval.
    """
    n = len(start_s)
    span = np.maximum(end_s - start_s, 1).astype(np.float64)
    u = rng.random(n)
    # Beta(1, 3) by inversion: density falls linearly-squared towards the end.
    u = np.where(decaying, 1.0 - (1.0 - u) ** (1.0 / 3.0), u)
    t = start_s + np.floor(u * span).astype(np.int64)
    local_day = (t + utc_offset_s) // 86_400
    hour = np.searchsorted(_HOUR_CDF, rng.random(n), side="right")
    seconds = rng.integers(0, 3600, n)
    shaped = local_day * 86_400 + hour * 3600 + seconds - utc_offset_s
    inside = (shaped >= start_s) & (shaped < end_s)
    return np.where(inside, shaped, t).astype(np.int64)


def _utc(epoch_s: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(epoch_s, dtype=np.int64), pa.timestamp("s", tz="UTC"))


def format_utc(epoch_s: np.ndarray, fmt: str) -> pa.Array:
    """UTC epoch seconds rendered with a strftime pattern (C locale day/month names)."""
    return pc.strftime(_utc(epoch_s), format=fmt, locale="C")


def format_local_iso(epoch_s: np.ndarray, zones: np.ndarray) -> pa.Array:
    """ISO-8601 local time with the zone's offset on that date (DST-aware), e.g. +02:00."""
    epoch_s = np.asarray(epoch_s, dtype=np.int64)
    order = np.argsort(zones, kind="stable")
    sorted_zones = zones[order]
    cuts = np.flatnonzero(sorted_zones[1:] != sorted_zones[:-1]) + 1
    pieces = []
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(order)], strict=True):
        if hi <= lo:
            continue
        zone = str(sorted_zones[lo])
        local = pc.cast(_utc(epoch_s[order[lo:hi]]), pa.timestamp("s", tz=zone))
        pieces.append(pc.strftime(local, format=ORDER_FORMAT, locale="C"))
    if not pieces:
        return pa.array([], pa.string())
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return pa.concat_arrays(pieces).take(pa.array(inverse))
