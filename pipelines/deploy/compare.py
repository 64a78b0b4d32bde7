"""Do two lakehouses hold the same results? (a cluster run against a local run, a migration)

Rule: two tables are equal when they hold the same multiset of rows after dropping the
columns that record *when* or *in which run* a row was written (``VOLATILE``; inside JSON
text, the same stamps), and with each side's own root folder read as the same place in text
columns (provenance such as an event's ``origin`` names the landing file it came from): those
differ between any two runs by design.
Everything else — ids, event and business times, amounts, features, segments, scores — must
match exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, DataType, MapType, StringType, StructType

from pipelines.catalog import Catalog
from pipelines.gate.delta_io import read_if_exists

# Per table: the columns stamped with the processing time or the run (MLflow run ids and model
# versions included: each run registers its own).
VOLATILE: dict[str, tuple[str, ...]] = {
    "events": ("ingested_at",),
    "identity_links": ("updated_at", "profile_created_at"),
    "identity_merges": ("merged_at", "merged_profile_created_at"),
    "profiles": ("as_of", "updated_at"),
    "quarantine": ("run_id", "quarantined_at"),
    "chatbot_export": ("as_of", "updated_at", "exported_at"),
}
ROOT = "<root>"
# The same stamps inside JSON text: an event's or the export document's own fields, and the
# landing time bronze adds to a raw record (nested, so its quotes are escaped).
_JSON_STAMPS = (
    (r'"(ingested_at|updated_at|as_of|exported_at)":"[^"]*"', r'"$1":"<stamp>"'),
    (r'(_ingested_at\\*"):(\\*")[^"\\]*', r"$1:$2<stamp>"),
)



@dataclass(frozen=True)
class TableComparison:
    table: str
    rows_left: int
    rows_right: int
    only_left: int
    only_right: int
    compared_columns: tuple[str, ...]

    @property
    def equal(self) -> bool:
        return self.only_left == 0 and self.only_right == 0


def _canonical(col: Column, data_type: DataType) -> Column:
    """``col`` with every map, at any depth, as its entries sorted by key: Spark cannot compare
    maps, and two equal maps may list their entries in different orders."""
    if isinstance(data_type, MapType):
        entries = F.map_entries(col)
        value_type = data_type.valueType
        return F.array_sort(F.transform(entries, lambda e: F.struct(
            e["key"].alias("key"), _canonical(e["value"], value_type).alias("value"))))
    if isinstance(data_type, StructType):
        return F.when(col.isNull(), F.lit(None)).otherwise(F.struct(*[
            _canonical(col[f.name], f.dataType).alias(f.name) for f in data_type.fields]))
    if isinstance(data_type, ArrayType):
        element = data_type.elementType
        return F.transform(col, lambda x: _canonical(x, element))
    return col


def _has_map(data_type: DataType) -> bool:
    if isinstance(data_type, MapType):
        return True
    if isinstance(data_type, StructType):
        return any(_has_map(f.dataType) for f in data_type.fields)
    if isinstance(data_type, ArrayType):
        return _has_map(data_type.elementType)
    return False


def _comparable(df: DataFrame, drop: tuple[str, ...], root: str | None = None) -> DataFrame:
    """Columns in a stable order, maps made comparable (``_canonical``); in text columns
    ``root`` replaced by ``ROOT`` and JSON stamps (``_JSON_STAMPS``) masked."""
    def column(name: str) -> Column:
        data_type = df.schema[name].dataType
        if _has_map(data_type):
            return _canonical(F.col(name), data_type).alias(name)
        if isinstance(data_type, StringType):
            text = F.col(name)
            for pattern, replacement in _JSON_STAMPS:
                text = F.regexp_replace(text, pattern, replacement)
            return (F.replace(text, F.lit(root), F.lit(ROOT)) if root else text).alias(name)
        return F.col(name)

    return df.select(*[column(c) for c in sorted(c for c in df.columns if c not in drop)])


def compare_table(
    spark: SparkSession, left: Catalog, right: Catalog, table: str,
    volatile: tuple[str, ...] = (),
) -> TableComparison:
    """Rows of ``table`` only in ``left`` / only in ``right`` (as multisets)."""
    a = read_if_exists(spark, left.path(table))
    b = read_if_exists(spark, right.path(table))
    if a is None or b is None:
        missing = [side for side, df in (("left", a), ("right", b)) if df is None]
        raise FileNotFoundError(f"{table}: no Delta table on the {' and '.join(missing)} side")
    if sorted(a.columns) != sorted(b.columns):
        raise ValueError(f"{table}: columns differ: {sorted(set(a.columns) ^ set(b.columns))}")
    drop = VOLATILE.get(table, ()) + tuple(volatile)
    a = _comparable(a, drop, left.conf.path("paths.root"))
    b = _comparable(b, drop, right.conf.path("paths.root"))
    return TableComparison(
        table=table,
        rows_left=a.count(),
        rows_right=b.count(),
        only_left=a.exceptAll(b).count(),
        only_right=b.exceptAll(a).count(),
        compared_columns=tuple(a.columns),
    )
