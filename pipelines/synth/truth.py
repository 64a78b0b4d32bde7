"""Ground truth: who every person really is, and which identifiers belong to whom.

Identifiers are normalized the way identity resolution is asked to (ARCHITECTURE §3.4):
e-mails trimmed and lower-cased, phones in E.164, social handles as ``platform:handle``
lower-cased without '@'. Shared identifiers (family devices, company inboxes,
test@example.com) map to every person who uses them and are flagged: they must never link
those people.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from pipelines.synth.people import Population
from pipelines.synth.reference import (
    CATEGORY_PRICE_RANGES_USD,
    COUNTRIES,
    DENY_LISTED_EMAILS,
    TEST_EMAIL,
    TIERS,
)

_TS = pa.timestamp("s", tz="UTC")

PEOPLE_SCHEMA = pa.schema(
    [
        ("person_id", pa.string()),
        ("customer_id", pa.string()),
        ("registered", pa.bool_()),
        ("archetype", pa.string()),
        ("first_name", pa.string()),
        ("last_name", pa.string()),
        ("email", pa.string()),
        ("alt_email", pa.string()),
        ("phone", pa.string()),
        ("social_handle", pa.string()),
        ("device_ids", pa.list_(pa.string())),
        ("anonymous_ids", pa.list_(pa.string())),
        ("company_inbox", pa.string()),
        ("test_email_user", pa.bool_()),
        ("country", pa.string()),
        ("previous_country", pa.string()),
        ("language", pa.string()),
        ("timezone", pa.string()),
        ("home_currency", pa.string()),
        ("account_tier", pa.string()),
        ("previous_account_tier", pa.string()),
        ("profile_updated_at", _TS),
        ("signup_at", _TS),
        ("new_customer", pa.bool_()),
        ("churned", pa.bool_()),
        ("churn_at", _TS),
        ("orders_per_day", pa.float64()),
        ("avg_basket_usd", pa.float64()),
        ("tickets_per_day", pa.float64()),
        ("web_affinity", pa.float64()),
        ("mentions_per_day", pa.float64()),
        ("refund_prob", pa.float64()),
        ("csat_mean", pa.float64()),
        ("sentiment_mean", pa.float64()),
        ("favourite_categories", pa.list_(pa.string())),
    ]
)

IDENTIFIER_SCHEMA = pa.schema(
    [
        ("id_type", pa.string()),
        ("id_value", pa.string()),
        ("person_id", pa.string()),
        ("n_persons", pa.int32()),
        ("shared", pa.bool_()),
        ("deny_listed", pa.bool_()),
    ]
)


def normalize_email(value: str) -> str:
    return value.strip().lower()


def social_key(platform: str, handle: str) -> str:
    return f"{platform}:{handle.lstrip('@').lower()}"


def _seconds(values: np.ndarray) -> pa.Array:
    v = np.asarray(values, dtype=np.float64)
    return pa.array(np.nan_to_num(v).astype(np.int64), _TS, mask=np.isnan(v))


def people_table(pop: Population) -> pa.Table:
    """One row per person: true identifiers (normalized) and the traits behind the segments."""
    p = pop.people
    d = pop.devices
    rows = d["person_row"].to_numpy()
    device_ids = [[] for _ in range(len(p))]
    anon_ids = [[] for _ in range(len(p))]
    for r, dev, anon, reset in zip(rows, d["device_id"], d["anon_id"], d["anon_id_reset"],
                                   strict=True):
        device_ids[r].append(dev)
        anon_ids[r].append(anon)
        if reset is not None:
            anon_ids[r].append(reset)
    handles = [None if h is None else social_key(pl, h)
               for pl, h in zip(p["social_platform"], p["social_handle"], strict=True)]
    codes = np.array([c.code for c in COUNTRIES])
    categories = np.array(list(CATEGORY_PRICE_RANGES_USD))
    return pa.table(
        {
            "person_id": p["person_id"],
            "customer_id": p["customer_id"],
            "registered": p["registered"],
            "archetype": p["archetype"],
            "first_name": p["first_name"],
            "last_name": p["last_name"],
            "email": p["email"],
            "alt_email": p["alt_email"],
            "phone": p["phone_e164"],
            "social_handle": handles,
            "device_ids": device_ids,
            "anonymous_ids": anon_ids,
            "company_inbox": p["company_inbox"],
            "test_email_user": p["test_email_user"],
            "country": p["country"],
            "previous_country": codes[p["previous_country_index"].to_numpy()],
            "language": p["language"],
            "timezone": p["zone"],
            "home_currency": p["currency"],
            "account_tier": np.array(TIERS)[p["tier"].to_numpy()],
            "previous_account_tier": np.array(TIERS)[p["previous_tier"].to_numpy()],
            "profile_updated_at": _seconds(p["profile_updated_s"]),
            "signup_at": _seconds(p["signup_s"]),
            "new_customer": p["new_customer"],
            "churned": p["churned"],
            "churn_at": _seconds(p["churn_s"]),
            "orders_per_day": p["orders_per_day"],
            "avg_basket_usd": p["basket_usd"],
            "tickets_per_day": p["tickets_per_day"],
            "web_affinity": p["web_affinity"],
            "mentions_per_day": p["mentions_per_day"],
            "refund_prob": p["refund_prob"],
            "csat_mean": p["csat_mean"],
            "sentiment_mean": p["sentiment_mean"],
            "favourite_categories": [
                sorted({str(categories[a]), str(categories[b])})
                for a, b in zip(p["fav_category_1"], p["fav_category_2"], strict=True)
            ],
        },
        schema=PEOPLE_SCHEMA,
    )


def identifier_rows(pop: Population) -> pd.DataFrame:
    """(id_type, id_value, person_id, collective): every identifier each person uses.

    ``collective`` marks identifiers that several people use by nature (shared devices,
    company inboxes, test@example.com); all others belong to exactly one person.
    """
    p = pop.people
    d = pop.devices
    pid = p["person_id"].to_numpy()
    frames = []

    def add(id_type: str, values: pd.Series, owners: np.ndarray, collective: object) -> None:
        keep = values.notna().to_numpy()
        frames.append(pd.DataFrame({
            "id_type": id_type,
            "id_value": values.to_numpy()[keep],
            "person_id": owners[keep],
            "collective": np.broadcast_to(collective, len(keep))[keep],
        }))

    add("customer_id", p["customer_id"], pid, False)
    add("email", p["email"], pid, False)
    add("email", p["alt_email"], pid, False)
    add("email", p["company_inbox"], pid, True)
    add("email", p["test_email_user"].map({True: TEST_EMAIL, False: None}), pid, True)
    add("phone", p["phone_e164"], pid, False)
    handles = pd.Series([None if h is None else social_key(pl, h)
                         for pl, h in zip(p["social_platform"], p["social_handle"], strict=True)])
    add("social_handle", handles, pid, False)
    owners = pid[d["person_row"].to_numpy()]
    add("device_id", d["device_id"], owners, d["shared"].to_numpy())
    add("anonymous_id", d["anon_id"], owners, False)
    add("anonymous_id", d["anon_id_reset"], owners, False)
    return pd.concat(frames, ignore_index=True)


def finalize_identifiers(rows: pd.DataFrame) -> pa.Table:
    """Count the people behind each identifier and flag shared and deny-listed ones."""
    counts = rows.groupby(["id_type", "id_value"])["person_id"].transform("nunique")
    out = pd.DataFrame({
        "id_type": rows["id_type"],
        "id_value": rows["id_value"],
        "person_id": rows["person_id"],
        "n_persons": counts.astype("int32"),
        "shared": counts > 1,
        "deny_listed": (rows["id_type"] == "email") & rows["id_value"].isin(DENY_LISTED_EMAILS),
    }).drop_duplicates(["id_type", "id_value", "person_id"])
    return pa.Table.from_pandas(out, schema=IDENTIFIER_SCHEMA, preserve_index=False)


@dataclass(frozen=True)
class PairScores:
    precision: float
    recall: float
    predicted_pairs: int
    true_pairs: int
    correct_pairs: int

    @property
    def f1(self) -> float:
        s = self.precision + self.recall
        return 0.0 if s == 0 else 2 * self.precision * self.recall / s


def pairwise_scores(predicted: pd.Series, actual: pd.Series) -> PairScores:
    """Same-person pair precision/recall of a clustering against the truth.

    ``predicted`` (e.g. profile_id) and ``actual`` (person_id) are aligned on the same items
    (records or identifiers); items where either is null are left out. A pair of items is
    predicted-same when both carry the same predicted id, truly-same when both belong to one
    person. Counted from cluster sizes, never by listing pairs, so it scales to millions.
    """
    both = pd.DataFrame({"p": predicted, "a": actual}).dropna()

    def pairs(sizes: pd.Series) -> int:
        s = sizes.to_numpy(dtype=np.int64)
        return int((s * (s - 1) // 2).sum())

    correct = pairs(both.groupby(["p", "a"]).size())
    pred = pairs(both.groupby("p").size())
    true = pairs(both.groupby("a").size())
    return PairScores(
        precision=correct / pred if pred else 1.0,
        recall=correct / true if true else 1.0,
        predicted_pairs=pred,
        true_pairs=true,
        correct_pairs=correct,
    )
