"""The probable tier in the stream (docs/streaming.md, "Identity in the stream"): after a
micro-batch's event-log append, at most every ``streaming.probable_refresh_s`` seconds, the
tier is brought up to date for the events and strong links that changed since the last
refresh (``identity.probable_refresh``, the batch ingest's function, incrementally), and the
profiles whose probable activity changed are published to the chatbot export and cache again
(``ChatbotSync.publish_profiles``).

Not part of the batch's exactly-once argument: both tables are derived state, computed from
committed table versions that the tier's watermark names, so a refresh cut short is redone
by the next one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from pyspark.sql import SparkSession

from pipelines.catalog import Catalog
from pipelines.config import Conf, ConfigError
from pipelines.identity.params import IdentityParams
from pipelines.identity.probable import ProbableParams
from pipelines.identity.probable_refresh import Refreshed, refresh_probable


@dataclass
class ProbableSync:
    params: ProbableParams
    every_s: float
    _last: float | None = field(default=None, repr=False)

    @classmethod
    def from_conf(cls, conf: Conf) -> ProbableSync | None:
        """None when the probable tier is off (``identity.probable.enabled``)."""
        params = ProbableParams.from_conf(conf)
        if not params.enabled:
            return None
        every_s = float(conf.get("streaming.probable_refresh_s"))
        if every_s < 0:
            raise ConfigError("streaming.probable_refresh_s must be >= 0")
        return cls(params, every_s)

    def due(self) -> bool:
        """The first batch of a run refreshes; later ones once ``every_s`` has passed."""
        return self._last is None or time.monotonic() - self._last >= self.every_s

    def refresh(self, spark: SparkSession, catalog: Catalog, identity: IdentityParams,
                now: datetime) -> Refreshed | None:
        refreshed = refresh_probable(spark, catalog, identity, self.params, now,
                                     incremental=True)
        self._last = time.monotonic()
        return refreshed
