"""The stream's incremental probable tier (pipelines/identity/probable_incremental.py) against
the whole recompute the batch runs, on random inputs: for any log, any appended events and any
change of the strong links, updating the tier computed before must give the tier computed
whole afterwards.

Many random worlds run at once: each names its devices, cookies, customers and profiles with
its own prefix, and the tier is keyed by those, so the worlds cannot touch each other and a
difference names the world it came from.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from pyspark.sql import DataFrame

from pipelines.identity import IdentityParams
from pipelines.identity.graph import observations_from_events
from pipelines.identity.probable import ProbableParams, device_records, probable_links
from pipelines.identity.probable_activity import probable_activity
from pipelines.identity.probable_incremental import (
    Changes,
    new_anonymous_ids,
    update_activity,
    update_links,
)
from tests.events_factory import event, events_df

NOW = datetime(2026, 9, 1)
T0 = datetime(2026, 8, 1)
IDENTITY = IdentityParams()
# Four cookies per device allowed, so fan-out, handoff penalties and contradictions all occur.
PARAMS = ProbableParams(max_anonymous_ids_per_device=4, serving_threshold=0.5)
LINKS = "id_type string, id_value string, profile_id string, shared boolean"
WORLDS = 40


def _world(rng: random.Random, w: int) -> tuple[list[dict], list[dict], dict, dict]:
    """(log before, appended events, strong links before, after) of one random world: a few
    devices, cookies and customers; events at random minutes, some late (earlier than the log's
    last); links map each identifier to a profile, and some move, appear, vanish or share.
    About a third of the worlds gain nothing."""
    devices = [f"w{w}-d{i}" for i in range(rng.randint(1, 4))]
    cookies = [f"w{w}-a{i}" for i in range(rng.randint(1, 6))]
    customers = [f"w{w}-C{i}" for i in range(rng.randint(1, 3))]
    profiles = [f"w{w}-p{i}" for i in range(rng.randint(2, 5))]

    def one(i: int, minute: int) -> dict:
        ids = {}
        if rng.random() < 0.85:
            ids["device_id"] = rng.choice(devices)
        if rng.random() < 0.7:
            ids["anonymous_id"] = rng.choice(cookies)
        if rng.random() < 0.3:
            ids["customer_id"] = rng.choice(customers)
        kind = rng.choice(["product_view", "page_view", "add_to_cart"])
        at = (T0 + timedelta(minutes=minute)).isoformat()
        return event(f"w{w}-e{i}", kind, at, identifiers=ids,
                     sku=rng.choice([None, "S1", "S2", "S3"]),
                     category=rng.choice([None, "shoes", "toys", "books"]))

    quiet = rng.random() < 0.3  # nothing new: the update must keep its rows as they were
    n_before, n_new = rng.randint(0, 12), 0 if quiet else rng.randint(0, 6)
    before = [one(i, rng.randint(0, 600)) for i in range(n_before)]
    new = [one(n_before + i, rng.randint(400, 900)) for i in range(n_new)]
    links_before = {("customer_id", c): (rng.choice(profiles), False) for c in customers}
    links_before |= {("anonymous_id", a): (rng.choice(profiles), rng.random() < 0.1)
                     for a in cookies if rng.random() < 0.9}
    links_after = dict(links_before)
    for key in [] if quiet else list(links_after):
        roll = rng.random()
        if roll < 0.15:
            links_after[key] = (rng.choice(profiles), links_after[key][1])
        elif roll < 0.2:
            del links_after[key]
        elif roll < 0.25:
            links_after[key] = (links_after[key][0], True)
    for a in [] if quiet else cookies:
        if ("anonymous_id", a) not in links_after and rng.random() < 0.5:
            links_after[("anonymous_id", a)] = (rng.choice(profiles), False)
    return before, new, links_before, links_after


def _links(spark, links: dict) -> DataFrame:
    return spark.createDataFrame(
        [(t, v, p, s) for (t, v), (p, s) in sorted(links.items())], LINKS)


def _changed(spark, before: dict, after: dict) -> DataFrame:
    """The change feed's rows of a link table going from ``before`` to ``after``: both images
    of every row inserted, updated or deleted."""
    rows = []
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            rows += [(*key, side[key][0]) for side in (before, after) if key in side]
    return spark.createDataFrame(rows, "id_type string, id_value string, profile_id string")


def _whole(events: DataFrame, links: DataFrame) -> tuple[DataFrame, DataFrame]:
    probable = probable_links(observations_from_events(events), links, IDENTITY, PARAMS,
                              now=NOW).localCheckpoint(eager=True)
    return probable, probable_activity(events, probable, PARAMS, now=NOW)


def _rows(df: DataFrame, key: str) -> dict[str, tuple]:
    out = df.drop("updated_at").collect()
    assert len(out) == len({r[key] for r in out}), f"{key} not unique"
    return {r[key]: tuple(r) for r in out}


def test_updating_the_tier_gives_the_whole_recompute_on_random_worlds(spark) -> None:
    rng = random.Random(20261204)
    before, new, links_before, links_after = [], [], {}, {}
    for w in range(WORLDS):
        b, n, lb, la = _world(rng, w)
        before += b
        new += n
        links_before |= lb
        links_after |= la
    log_before = events_df(spark, before).drop("profile_id")
    appended = events_df(spark, new).drop("profile_id")
    log_after = log_before.unionByName(appended)
    old_links, new_links = _links(spark, links_before), _links(spark, links_after)
    probable_before, activity_before = _whole(log_before, old_links)
    expected_links, expected_activity = _whole(log_after, new_links)

    changes = Changes(events=appended, links=_changed(spark, links_before, links_after))
    records = device_records(observations_from_events(log_after), IDENTITY)
    probable, affected = update_links(records, new_links, changes, probable_before,
                                      IDENTITY, PARAMS, now=NOW)
    probable = probable.localCheckpoint(eager=True)
    touched = affected.union(new_anonymous_ids(changes)).distinct()
    activity, _ = update_activity(log_after, probable, touched, probable_before,
                                  activity_before, PARAMS, now=NOW)

    want_links, got_links = _rows(expected_links, "anonymous_id"), _rows(probable, "anonymous_id")
    assert want_links, "the worlds attach no cookie: the comparison proves nothing"
    assert got_links == want_links
    want, got = _rows(expected_activity, "profile_id"), _rows(activity, "profile_id")
    assert want, "no served activity in any world"
    assert got == want
    # Not vacuous: the update kept rows it did not compute, and changed some it did.
    assert probable_before.join(affected, "anonymous_id", "left_anti").count() > 0
    assert _rows(probable_before, "anonymous_id") != want_links
