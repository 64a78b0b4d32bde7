"""When the probable tier is updated from the change data feed, and when it is computed whole
(pipelines/identity/probable_refresh.py), on Delta tables: appended events are folded in
incrementally; an erased record, a tier table written by another, other settings or no
watermark make it whole; unchanged inputs make it a no-op. That an update gives what the
whole recompute gives is shown by tests/unit/test_probable_incremental.py (random inputs) and
the ingest parity test (tests/integration/test_ingest_job.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from pipelines.catalog import Catalog
from pipelines.gate.delta_io import ensure_table, write_delta
from pipelines.identity import IdentityParams
from pipelines.identity.probable import ProbableParams
from pipelines.identity.probable_refresh import refresh_probable
from pipelines.identity.schemas import LINKS
from tests.events_factory import event, events_df

NOW = datetime(2026, 9, 1)
IDENTITY = IdentityParams()
PARAMS = ProbableParams()
C1_PROFILE, A1_PROFILE = "p_00000000000000c1", "p_00000000000000a1"  # the gate's id format


def _append_events(spark, catalog: Catalog, rows: list[dict]) -> None:
    write_delta(events_df(spark, rows).drop("profile_id"), catalog.table("events"), "append")


def _links(spark, catalog: Catalog, rows: list[tuple[str, str, str]]) -> None:
    blank = [None] * (len(LINKS.fields) - 3)
    df = spark.createDataFrame([(*r, *blank) for r in rows], LINKS)
    spec = catalog.table("identity_links")
    ensure_table(df, spec)
    write_delta(df, spec, "merge", merge_on=["id_type", "id_value"])


def _browse(eid: str, at: str, cookie: str, **extra: str) -> dict:
    return event(eid, "product_view", at, identifiers={"device_id": "d1", "anonymous_id": cookie},
                 sku=extra.get("sku", "S1"), category=extra.get("category", "shoes"))


def _login(eid: str, at: str) -> dict:
    return event(eid, "login", at, identifiers={"device_id": "d1", "customer_id": "C1"})


def _tables(spark, catalog: Catalog) -> tuple[dict, dict]:
    """(links by anonymous id, activity by profile id), ``updated_at`` aside."""
    def rows(name, key):
        return {r[key]: r for r in spark.read.format("delta").load(catalog.path(name))
                .drop("updated_at").collect()}
    return rows("identity_probable_links", "anonymous_id"), rows("probable_activity", "profile_id")


def test_appends_are_folded_in_and_an_erasure_recomputes_whole(spark, conf) -> None:
    catalog = Catalog(conf)
    _append_events(spark, catalog, [_browse("e1", "2026-08-01T10:00:00", "a1"),
                                    _login("e2", "2026-08-01T10:01:00")])
    _links(spark, catalog, [("customer_id", "C1", C1_PROFILE), ("anonymous_id", "a1", A1_PROFILE)])

    def refresh(**kw):
        return refresh_probable(spark, catalog, IDENTITY, PARAMS, NOW, **kw)

    first = refresh(incremental=True)
    assert first.whole and first.links == 1 and first.changed_profiles == (C1_PROFILE,)
    assert refresh(incremental=True) is None  # nothing changed since

    # A newer anonymous view of a1 on the device: an append, folded in from the feed.
    _append_events(spark, catalog, [_browse("e3", "2026-08-02T09:00:00", "a1", sku="S9",
                                            category="toys")])
    second = refresh(incremental=True)
    assert not second.whole and second.changed_profiles == (C1_PROFILE,)
    updated = _tables(spark, catalog)
    assert set(updated[0]) == {"a1"}
    assert updated[1][C1_PROFILE].probable_last_viewed.sku == "S9"


    # An erasure deletes records: the feed holds a delete, so the tier is computed whole, and
    # the erased view is gone from it.
    spark.sql(f"DELETE FROM delta.`{catalog.path('events')}` WHERE event_id = 'e3'")
    erased = refresh(incremental=True)
    assert erased.whole and erased.changed_profiles == (C1_PROFILE,)
    assert _tables(spark, catalog)[1][C1_PROFILE].probable_last_viewed.sku == "S1"

    # A tier table written by another since (here: a row deleted, as a refresh cut short
    # between the two tables would leave them): the next refresh computes it whole again.
    spark.sql(f"DELETE FROM delta.`{catalog.path('probable_activity')}`")
    _append_events(spark, catalog, [_browse("e4", "2026-08-03T09:00:00", "a1", sku="S4")])
    assert refresh(incremental=True).whole
    assert _tables(spark, catalog)[1][C1_PROFILE].probable_last_viewed.sku == "S4"

    # Other settings (a new never-link rule, a threshold) cannot be folded in either.
    other = replace(PARAMS, serving_threshold=0.9)
    assert refresh_probable(spark, catalog, IDENTITY, other, NOW, incremental=True).whole
