"""The stream's last hop to the chatbot: after a micro-batch's profile MERGE, the profiles it
changed are upserted into the chatbot export (Delta) and pushed to the Redis cache, and
merged-away profiles are redirected to their survivors (``pipelines.serving.publish``).

Why the batch fails when Redis is unreachable instead of skipping the push: the cache would
keep serving the previous version of a changed profile as if it were current. Failing the
batch (after bounded retries) stops the query; its restart replays the batch exactly once —
the Delta writes carry the txn ``(<query>/chatbot, batch id)`` and the cache refuses versions
older than the one it holds.

The stream's probable refresher publishes too, from its own thread (``publish_profiles``):
the two take turns (``_turn``), each reading the probable tier inside its turn. Otherwise a
batch that read the tier before a refresh replaced it could publish after the refresh's
own publish, and the older activity would stay served.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines.catalog import Catalog
from pipelines.config import Conf
from pipelines.gate import Txn
from pipelines.serving.params import ExportParams
from pipelines.serving.publish import read_probable, read_segments, sync_touched


@dataclass(frozen=True)
class ChatbotSync:
    """Keeps the chatbot export and cache in step with the profiles the stream writes."""

    conf: Conf  # the Redis client and cache prefix come from it
    params: ExportParams
    _turn: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @classmethod
    def from_conf(cls, conf: Conf) -> ChatbotSync | None:
        """None when ``streaming.chatbot_sync`` is off (the export is then nightly only)."""
        if not bool(conf.get("streaming.chatbot_sync")):
            return None
        return cls(conf, ExportParams.from_conf(conf))

    def __call__(
        self,
        spark: SparkSession,
        catalog: Catalog,
        run_id: str,
        merges: DataFrame | None,
        txn: Txn,
    ) -> int:
        """Publish the profiles whose latest change came from micro-batch ``run_id`` (the
        profiles table's ``last_batch``); returns the rows the cache accepted."""
        changed = (
            spark.read.format("delta")
            .load(catalog.path("profiles"))
            .where(F.col("last_batch") == run_id)
        )
        return self._publish(spark, catalog, changed, merges, txn)

    def publish_profiles(self, spark: SparkSession, catalog: Catalog,
                         profile_ids: tuple[str, ...], txn: Txn | None) -> int:
        """Publish these profiles again as they stand (e.g. their probable activity changed);
        returns the rows the cache accepted."""
        ids = spark.createDataFrame([(p,) for p in profile_ids], "profile_id string")
        profiles = spark.read.format("delta").load(catalog.path("profiles"))
        return self._publish(spark, catalog, profiles.join(ids, "profile_id", "left_semi"),
                             None, txn)

    def _publish(self, spark: SparkSession, catalog: Catalog, changed: DataFrame,
                 merges: DataFrame | None, txn: Txn) -> int:
        with self._turn:
            # Only the touched profiles' rows: the export picks the latest snapshot per
            # profile.
            segments, probable = (
                None if table is None
                else table.join(changed.select("profile_id"), "profile_id", "left_semi")
                for table in (read_segments(catalog, spark), read_probable(catalog, spark))
            )
            reports = sync_touched(
                catalog, self.conf, changed, params=self.params, segments=segments,
                probable=probable, merges=merges, txn=txn,
            )
            return reports["cache"].written

    def publish_frontier(self, offsets: dict[str, int]) -> None:
        """Tell the hot lane that every base below ``offsets`` is in the cache."""
        from pipelines.services.redis_server import client
        from pipelines.serving.coverage import publish_frontier

        publish_frontier(client(self.conf), str(self.conf.get("cache.prefix")), offsets)
