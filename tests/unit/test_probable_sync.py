"""When the stream refreshes the probable tier (pipelines/stream/probable_sync.py): only with
the tier on, on the first batch of a run, then once ``streaming.probable_refresh_s`` passed."""

from __future__ import annotations

import time

import pytest

from pipelines.config import ConfigError, load_conf, overridden
from pipelines.stream.probable_sync import ProbableSync


def _sync(every_s: float, enabled: bool = True) -> ProbableSync | None:
    return ProbableSync.from_conf(overridden(load_conf("test"), {
        "identity.probable.enabled": enabled, "streaming.probable_refresh_s": every_s}))


def test_off_when_the_tier_is_off():
    assert _sync(60, enabled=False) is None


def test_first_batch_then_every_interval():
    sync = _sync(60)
    assert sync.due()  # first batch of a run
    sync._last = time.monotonic()  # what refresh() records
    assert not sync.due()
    sync._last = time.monotonic() - 61
    assert sync.due()


def test_zero_refreshes_after_every_batch():
    sync = _sync(0)
    sync._last = time.monotonic()
    assert sync.due()


def test_a_negative_interval_is_refused():
    with pytest.raises(ConfigError, match="probable_refresh_s"):
        _sync(-1)
