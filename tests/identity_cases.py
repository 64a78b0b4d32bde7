"""Random identity batches for comparing the two resolution engines.

Many small independent *cases* in one batch: each case draws its identifiers from its own
small pool (values prefixed ``c<case>.``), so records of one case collide often — shared
identifiers, weak devices, merges — while cases never touch each other, and one Spark
resolution checks hundreds of them at once.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from pipelines.identity.params import IdentityParams
from pipelines.schemas.events import IDENTIFIER_TYPES

T0 = datetime(2026, 8, 1, tzinfo=UTC)
# Per identifier type, how many distinct values a case draws from (few: collisions are the point).
POOL = {"customer_id": 3, "email": 3, "phone": 2, "social_handle": 2, "anonymous_id": 4,
        "device_id": 2}
# Values no rule may link: blank (not prefixed, so shared by all cases — they are no node)
# and denied ones.
UNUSABLE = ("", "  ", "{case}.blocked", "{case}.x.deny")


def params(rng: random.Random, cases: int) -> IdentityParams:
    rules = set()
    for case in range(cases):
        if rng.random() < 0.3:
            a, b = rng.sample(IDENTIFIER_TYPES, 2)
            rules.add((a, _value(case, a, rng), b, _value(case, b, rng)))
    return IdentityParams(
        deny_list=tuple(f"c{c}.blocked" for c in range(cases)),
        deny_patterns=(r"\.deny$",),
        max_customer_ids_per_identifier=rng.choice((1, 2)),
        max_anonymous_ids_per_device=rng.choice((0, 1, 2)),
        never_link=tuple(sorted(rules)),
    )


def _value(case: int, id_type: str, rng: random.Random) -> str:
    return f"c{case}.{id_type[:2]}{rng.randrange(POOL[id_type])}"


def batch(rng: random.Random, cases: int, round_: int, max_records: int = 4) -> list[tuple]:
    """(record_id, event_time, identifiers dict) rows: 1..max_records records per case."""
    rows = []
    for case in range(cases):
        for i in range(rng.randint(1, max_records)):
            ids: dict[str, str | None] = dict.fromkeys(IDENTIFIER_TYPES)
            for t in rng.sample(IDENTIFIER_TYPES, rng.choice((1, 2, 2, 3, 3))):
                if rng.random() < 0.08:
                    ids[t] = rng.choice(UNUSABLE).format(case=f"c{case}")
                else:
                    ids[t] = _value(case, t, rng)
            # Hour ties across records on purpose; now and then no event time at all.
            at = None if rng.random() < 0.03 else T0 + timedelta(hours=rng.randrange(6))
            rows.append((f"r{round_}.{case}.{i}", at, ids))
    return rows
