"""The probable identity tier: a person's own device activity attached to their profile with a
confidence score, never merged into it (ARCHITECTURE §7, docs/identity.md "Probable links").

A *candidate* is (device d, anonymous id a) where a browsed on d in records without a customer
id, and a's own profile holds no customer id (an anonymous id that ever came with a login is a
strong link already, or contradicts this one). It is attached to the profile of the customer
who logged in on d when:

- exactly one customer id was ever seen on d (**contradiction**: a second customer logging in
  on d withdraws every probable link through d, whatever the scores);
- d carried at most ``max_anonymous_ids_per_device`` anonymous ids (**fan-out**: a library PC's
  visitors are nobody's);
- a attaches to one profile only (seen on two devices of two different customers: none).

Its confidence, from the evidence on d (o = the other anonymous ids d carried):

- ``own_cookie``: the customer logged in on d with another anonymous id, so a is most likely
  someone else (a family tablet): ``own_cookie_confidence``;
- ``handoff``: a's browsing ran straight into the customer's login on d (the next record on d,
  within ``handoff_window_s``), as in the shop's app: ``handoff_confidence`` −
  ``handoff_penalty`` × o;
- ``device_only``: neither: ``device_confidence`` − ``other_id_penalty`` × o.

Links at or above ``min_confidence`` are kept; readers use those at or above
``serving_threshold``. The result is a function of the event log and the strong links only,
so a batch over all records and a stream that recomputes the devices each micro-batch touches
give the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from pipelines.config import Conf, ConfigError
from pipelines.identity.assign import usable_links
from pipelines.identity.graph import DEVICE_TYPES, denied
from pipelines.identity.never_link import without_never_linked
from pipelines.identity.params import IdentityParams
from pipelines.identity.schemas import PROBABLE_LINKS, conform

HANDOFF, DEVICE_ONLY, OWN_COOKIE = "handoff", "device_only", "own_cookie"
(DEVICE_TYPE,) = DEVICE_TYPES  # the evidence is per device id


@dataclass(frozen=True)
class ProbableParams:
    """Thresholds and scores of the probable tier (conf ``identity.probable``)."""

    enabled: bool = True
    handoff_window_s: int = 600
    max_anonymous_ids_per_device: int = 3
    handoff_confidence: float = 0.97
    handoff_penalty: float = 0.05
    device_confidence: float = 0.85
    other_id_penalty: float = 0.25
    own_cookie_confidence: float = 0.3
    min_confidence: float = 0.3
    serving_threshold: float = 0.8

    def __post_init__(self) -> None:
        scores = (self.handoff_confidence, self.device_confidence, self.own_cookie_confidence,
                  self.min_confidence, self.serving_threshold)
        if not all(0.0 <= s <= 1.0 for s in scores):
            raise ConfigError("identity.probable confidences and thresholds must be in [0, 1]")
        if self.handoff_window_s < 0 or self.max_anonymous_ids_per_device < 1:
            raise ConfigError("identity.probable.handoff_window_s must be >= 0 and "
                              "max_anonymous_ids_per_device >= 1")

    @classmethod
    def from_conf(cls, conf: Conf) -> ProbableParams:
        section = conf.get("identity.probable")
        return cls(
            enabled=bool(section["enabled"]),
            handoff_window_s=int(section["handoff_window_s"]),
            max_anonymous_ids_per_device=int(section["max_anonymous_ids_per_device"]),
            **{k: float(section[k]) for k in (
                "handoff_confidence", "handoff_penalty", "device_confidence",
                "other_id_penalty", "own_cookie_confidence", "min_confidence",
                "serving_threshold")},
        )


def _usable(id_type: str, params: IdentityParams) -> Column:
    value = F.col(f"identifiers.{id_type}")
    return F.when(value.isNotNull() & (F.trim(value) != "") & ~denied(value, params), value)


def device_records(observations: DataFrame, params: IdentityParams) -> DataFrame:
    """(record_id, event_time, device_id, customer_id, anonymous_id): every record carrying a
    usable device, with its usable customer and anonymous ids (null when none); denied values,
    and identifiers a never-link rule blocks in the record, are no evidence."""
    return without_never_linked(observations, params.never_link).select(
        F.col("record_id").cast("string").alias("record_id"),
        F.col("event_time").cast("timestamp").alias("event_time"),
        _usable(DEVICE_TYPE, params).alias("device_id"),
        _usable("customer_id", params).alias("customer_id"),
        _usable("anonymous_id", params).alias("anonymous_id"),
    ).where(F.col("device_id").isNotNull())


def probable_links(
    observations: DataFrame,
    links: DataFrame,
    identity: IdentityParams,
    params: ProbableParams,
    *,
    now: datetime,
) -> DataFrame:
    """The probable links (schema ``PROBABLE_LINKS``) the records of ``observations`` support.

    Args:
        observations: record_id, event_time, identifiers — every record of the devices to
            score (the whole event log, or all records of the devices a micro-batch touched).
        links: the strong links after resolving those records (``identity_links``).
        identity: deny-list and guards (denied values are no evidence).
        params: scores and thresholds.
        now: ``updated_at`` of the rows.
    Returns:
        One row per attached anonymous id; empty when ``params.enabled`` is false.
    """
    if not params.enabled:
        return observations.sparkSession.createDataFrame([], PROBABLE_LINKS)
    return links_from_records(device_records(observations, identity), links, params, now=now)


def links_from_records(
    recs: DataFrame, links: DataFrame, params: ProbableParams, *, now: datetime
) -> DataFrame:
    """``probable_links`` from ``device_records`` rows: every record of each device to score."""
    per_device = recs.groupBy("device_id").agg(
        F.countDistinct("customer_id").alias("n_customers"),
        F.min("customer_id").alias("customer_id"),
        F.countDistinct("anonymous_id").alias("device_anonymous_ids"),
        F.collect_set(F.when(F.col("customer_id").isNotNull(), F.col("anonymous_id")))
        .alias("login_cookies"),
    ).where(
        (F.col("n_customers") == 1)
        & (F.col("device_anonymous_ids") <= params.max_anonymous_ids_per_device)
    )
    candidates = recs.where(F.col("customer_id").isNull() & F.col("anonymous_id").isNotNull())
    # The next record on the device: a login right after the anonymous browsing is a handoff.
    order = Window.partitionBy("device_id").orderBy("event_time", "record_id")
    nxt = recs.select(
        "device_id", "anonymous_id", "customer_id", "event_time",
        F.lead("customer_id").over(order).alias("next_customer_id"),
        F.lead("event_time").over(order).alias("next_time"),
    ).where(F.col("customer_id").isNull() & F.col("anonymous_id").isNotNull())
    handoff = (F.col("next_customer_id").isNotNull() & (
        F.col("next_time").cast("long") - F.col("event_time").cast("long")
        <= params.handoff_window_s))
    handoffs = nxt.groupBy("device_id", "anonymous_id").agg(
        F.sum(handoff.cast("int")).alias("handoffs"))
    seen = candidates.groupBy("device_id", "anonymous_id").agg(
        F.min("event_time").alias("first_seen"), F.max("event_time").alias("last_seen"))

    usable = usable_links(links)
    customer_profiles = usable.where(F.col("id_type") == "customer_id").select(
        F.col("id_value").alias("customer_id"), "profile_id")
    anon_profiles = usable.where(F.col("id_type") == "anonymous_id").select(
        F.col("id_value").alias("anonymous_id"),
        F.col("profile_id").alias("anonymous_profile_id"))
    # An anonymous id whose own profile holds a customer id is strong (or contradicted).
    strong = customer_profiles.select(F.col("profile_id").alias("anonymous_profile_id"))

    scored = (
        seen.join(per_device, "device_id")
        .join(handoffs, ["device_id", "anonymous_id"], "left")
        .join(customer_profiles, "customer_id")
        .join(anon_profiles, "anonymous_id", "left")
        .join(strong.distinct(), "anonymous_profile_id", "left_anti")
        .withColumn("handoffs", F.coalesce("handoffs", F.lit(0)))
        .withColumn("evidence", _evidence())
        .withColumn("confidence", _confidence(params))
        .where(F.col("confidence") >= params.min_confidence)
    )
    # One profile per anonymous id: two devices of two customers contradict each other.
    best = Window.partitionBy("anonymous_id").orderBy(
        F.col("confidence").desc(), "device_id")
    ranked = scored.withColumn(
        "profiles", F.size(F.collect_set("profile_id").over(
            Window.partitionBy("anonymous_id")))
    ).withColumn("rank", F.row_number().over(best))
    out = ranked.where((F.col("profiles") == 1) & (F.col("rank") == 1)).withColumn(
        "updated_at", F.lit(now).cast("timestamp"))
    return conform(out, PROBABLE_LINKS)


def _evidence() -> Column:
    own_cookie = F.size(F.array_remove(F.col("login_cookies"), F.col("anonymous_id"))) > 0
    return (F.when(own_cookie, F.lit(OWN_COOKIE))
            .when(F.col("handoffs") > 0, F.lit(HANDOFF))
            .otherwise(F.lit(DEVICE_ONLY)))


def _confidence(params: ProbableParams) -> Column:
    others = F.col("device_anonymous_ids") - 1
    score = (
        F.when(F.col("evidence") == OWN_COOKIE, F.lit(params.own_cookie_confidence))
        .when(F.col("evidence") == HANDOFF,
              F.lit(params.handoff_confidence) - others * params.handoff_penalty)
        .otherwise(F.lit(params.device_confidence) - others * params.other_id_penalty)
    )
    return F.round(F.greatest(score, F.lit(0.0)), 4)


def served(probable: DataFrame, params: ProbableParams) -> DataFrame:
    """The links readers may use: at or above the serving threshold."""
    return probable.where(F.col("confidence") >= params.serving_threshold)
