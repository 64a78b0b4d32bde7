"""The stream's probable refresher (pipelines/stream/probable_sync.py): only with the tier
on; a refresh may start at once the first time, then ``streaming.probable_refresh_s`` after
the last one started; a refresh that fails fails the next micro-batch and the stop. That it
refreshes and publishes beside a running query: tests/integration/test_stream_probable.py."""

from __future__ import annotations

import pytest

from pipelines.config import ConfigError, load_conf, overridden
from pipelines.stream.microbatch import StreamContext, process_batch
from pipelines.stream.probable_sync import ProbableRefreshFailed, ProbableSync


def _sync(every_s: float, enabled: bool = True) -> ProbableSync | None:
    return ProbableSync.from_conf(overridden(load_conf("test"), {
        "identity.probable.enabled": enabled, "streaming.probable_refresh_s": every_s}))


def test_off_when_the_tier_is_off():
    assert _sync(60, enabled=False) is None


def test_at_once_the_first_time_then_the_interval_from_the_last_start():
    sync = _sync(60)
    assert sync.wait_s(now=1000.0) == 0.0
    sync._last = 1000.0  # what refresh() records as it starts
    assert sync.wait_s(now=1015.0) == 45.0
    assert sync.wait_s(now=1061.0) == 0.0


def test_zero_refreshes_after_every_batch():
    sync = _sync(0)
    sync._last = 1000.0
    assert sync.wait_s(now=1000.0) == 0.0


def test_a_negative_interval_is_refused():
    with pytest.raises(ConfigError, match="probable_refresh_s"):
        _sync(-1)


def test_a_failed_refresh_fails_the_next_batch_and_the_stop(spark, conf):
    """A lakehouse on a file system Spark cannot reach: the refresh's first read fails (not
    a conflict, so no retry)."""
    conf = overridden(conf, {"identity.probable.enabled": True,
                             "streaming.probable_refresh_s": 0,
                             "paths.lakehouse": "nosuchfs://nowhere/lakehouse"})
    ctx = StreamContext.from_conf(conf)
    sync = ctx.probable
    sync.start(spark, ctx)
    sync.batch_committed()
    sync._thread.join(60)
    assert not sync._thread.is_alive()  # the thread ended on the failure
    batch = spark.createDataFrame([], "key binary, value binary")
    with pytest.raises(ProbableRefreshFailed, match="nosuchfs"):
        process_batch(batch, 0, ctx)
    with pytest.raises(ProbableRefreshFailed):
        sync.stop()
