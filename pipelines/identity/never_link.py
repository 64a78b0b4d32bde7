"""Never-link rules: pairs of identifiers that must not link two people again after an undone
merge (docs/identity.md, "Undoing a merge").

A rule is (id_type, id_value, with_id_type, with_id_value): **in a record that also carries
``with``, the identifier ``id`` is treated as absent** — for the graph (it links nothing from
that record) and for ``assign_profiles`` (it does not place the record). Elsewhere ``id`` links
as usual. ``profilake-unmerge`` writes one rule per identifier of the merged side that appeared
in a record together with an identifier of the survivor's side, with ``id`` = the survivor
side's identifier (the linking identifier of the merge row among them), so replaying such a
record leaves it with the merged side only and the two profiles stay apart.

The rules live in the Delta table ``identity_never_link`` (schema ``NEVER_LINK``), read into
``IdentityParams.never_link`` by ``store.identity_params`` at the start of every batch run and
every micro-batch; they are applied as one literal map in the query, fine for thousands of
rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType, TimestampType

from pipelines.schemas.events import IDENTIFIER_TYPES

NEVER_LINK = StructType(
    [
        StructField("id_type", StringType()),
        StructField("id_value", StringType()),
        StructField("with_id_type", StringType()),
        StructField("with_id_value", StringType()),
        StructField("merge_id", StringType()),
        StructField("added_at", TimestampType()),
    ]
)

Rule = tuple[str, str, str, str]


def rules_from_rows(rows: Iterable[Sequence[str]]) -> tuple[Rule, ...]:
    """Sorted, distinct (id_type, id_value, with_id_type, with_id_value) tuples."""
    return tuple(sorted({(str(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows}))


def _key(id_type: str | Column, value: Column) -> Column:
    kind = F.lit(id_type) if isinstance(id_type, str) else id_type
    return F.concat(kind, F.lit(":"), value)


def without_never_linked(observations: DataFrame, rules: Sequence[Rule]) -> DataFrame:
    """``observations`` with each identifier a rule blocks in its record set to null.

    Args:
        observations: record_id, event_time, identifiers (struct of the identifier types).
        rules: never-link rules; none returns ``observations`` unchanged.
    """
    if not rules:
        return observations
    blocked: dict[str, list[str]] = {}
    for id_type, id_value, with_type, with_value in rules:
        blocked.setdefault(f"{id_type}:{id_value}", []).append(f"{with_type}:{with_value}")
    lookup = F.create_map(*[
        part for key, others in sorted(blocked.items())
        for part in (F.lit(key), F.array(*[F.lit(o) for o in sorted(set(others))]))
    ])
    carried = F.array_compact(F.array(*[
        _key(t, F.col(f"identifiers.{t}")) for t in IDENTIFIER_TYPES
    ]))

    def kept(t: str) -> Column:
        value = F.col(f"identifiers.{t}")
        hit = F.arrays_overlap(F.try_element_at(lookup, _key(t, value)), carried)
        return F.when(F.coalesce(hit, F.lit(False)), F.lit(None).cast("string")) \
            .otherwise(value).alias(t)

    fields = [kept(t) if t in IDENTIFIER_TYPES else F.col(f"identifiers.{t}").alias(t)
              for t in observations.select("identifiers.*").columns]
    return observations.withColumn("identifiers", F.struct(*fields))
