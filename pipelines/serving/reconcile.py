"""Keep what concurrent writers committed while the export job rebuilt a table.

The export job reads ``profiles`` at its start and overwrites ``chatbot_export`` and
``chatbot_identifiers`` at its end. Meanwhile the stream (and an erasure or unmerge) keeps
changing both tables row by row. Delta refuses the overwrite only for commits made after the
overwrite's own transaction began (``ConcurrentAppendException``); a commit made between the
job's read and that moment is silently replaced by the job's older rows. A served profile
would then go back in time, and a deleted one (merged away, erased) would come back.

The rule, per table: the commits between the version the job saw before reading
(``since``) and its own overwrite are the other writers'. The rows they wrote that the job's
rows do not supersede are written again on top of the overwrite, and the keys they deleted
are deleted again. The job's row stands only when both rows carry a ``profile_version`` and
the job's is at least as high (equal: the same profile state, with the nightly's fresher
segments); without a version on either side (an identifier redirect) the other writer's row
wins, being the later decision. A deleted key is deleted again unless the job's row is newer
than the deleted one.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines.conflicts import with_retries

VERSION = "profile_version"


def own_commit(spark: SparkSession, path: str, tag: str, since: int | None) -> int:
    """The version of the commit after ``since`` whose commitInfo.userMetadata is ``tag``."""
    from delta.tables import DeltaTable

    from pipelines.gate.delta_io import table_version

    latest = table_version(spark, path)
    first = 0 if since is None else since + 1
    found = None
    if latest is not None and latest >= first:
        found = (
            DeltaTable.forPath(spark, path).history(latest - first + 1)
            .where(F.col("userMetadata") == tag).agg(F.max("version")).first()[0]
        )
    if found is None:
        raise RuntimeError(f"no commit tagged '{tag}' in {path} after version {since}")
    return int(found)


def theirs_not_superseded(before: DataFrame | None, after: DataFrame, ours: DataFrame,
                          key: Sequence[str]) -> tuple[DataFrame, DataFrame]:
    """What other writers changed between ``before`` and ``after`` (snapshots of the table)
    and ``ours`` (the table just after our overwrite) does not supersede: the rows to write
    again, and the keys to delete again."""
    same = list(dict.fromkeys([*key, "profile_id", VERSION]))
    written = after if before is None else after.join(
        before.select(*same), [after[c].eqNullSafe(before[c]) for c in same], "left_anti")
    deleted = (before.select(*key, F.col(VERSION).alias("_gone_version"))
               .join(after.select(*key), list(key), "left_anti")
               if before is not None else None)
    mine = ours.select(*key, F.col(VERSION).alias("_our_version"))
    rewrite = (written.join(mine, list(key), "left")
               .where(F.col("_our_version").isNull() | F.col(VERSION).isNull()
                      | (F.col(VERSION) > F.col("_our_version")))
               .drop("_our_version"))
    if deleted is None:
        return rewrite, after.limit(0).select(*key)
    erase = (deleted.join(mine, list(key))
             .where(F.col("_our_version").isNull() | F.col("_gone_version").isNull()
                    | (F.col("_our_version") <= F.col("_gone_version")))
             .select(*key))
    return rewrite, erase


def reapply_concurrent(spark: SparkSession, path: str, key: Sequence[str], since: int | None,
                       tag: str, *, attempts: int, backoff_s: float) -> dict[str, int]:
    """After our overwrite (the commit tagged ``tag``) of the table at ``path``, write again
    what other writers committed after version ``since`` (None: the table did not exist) and
    before our commit. Returns the rows written again and the keys deleted again."""
    from delta.tables import DeltaTable

    ours_at = own_commit(spark, path, tag, since)
    if ours_at <= (0 if since is None else since + 1):
        return {"rewritten": 0, "deleted": 0}

    def snapshot(version: int) -> DataFrame:
        return spark.read.format("delta").option("versionAsOf", version).load(path)

    before = None if since is None else snapshot(since)
    rewrite, erase = theirs_not_superseded(
        before, snapshot(ours_at - 1), snapshot(ours_at), key)
    rewrite = rewrite.localCheckpoint()
    erase = erase.localCheckpoint()
    counts = {"rewritten": rewrite.count(), "deleted": erase.count()}
    on = " AND ".join(f"t.`{k}` = s.`{k}`" for k in key)
    newer = (f"s.{VERSION} IS NULL OR t.{VERSION} IS NULL OR s.{VERSION} > t.{VERSION}")

    def apply() -> None:
        # Re-evaluated on a retry: a writer that committed after our overwrite may have
        # superseded a row again, which the conditions respect.
        table = DeltaTable.forPath(spark, path)
        if counts["rewritten"]:
            (table.alias("t").merge(rewrite.alias("s"), on)
             .whenMatchedUpdateAll(condition=newer).whenNotMatchedInsertAll().execute())
        if counts["deleted"]:
            table.alias("t").merge(erase.alias("s"), on).whenMatchedDelete().execute()

    if counts["rewritten"] or counts["deleted"]:
        with_retries(apply, name=f"export reconcile {path}", attempts=attempts,
                     backoff_s=backoff_s)
    return counts
