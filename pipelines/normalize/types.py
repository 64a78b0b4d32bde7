"""Value types of JSON records, one rule for the batch sources and the stream.

A field that a record carries (not JSON null) but whose value Spark's typed JSON parse cannot
read as the field's documented type has a changed type: the record is rejected with
``wrong_type: <field>`` rather than landing with the field as "not given". The stream
(pipelines/stream/parse.py, rule 11) applies ``first_wrong_type`` to the envelope and the batch
JSON sources (pipelines/ingest/normalize/) to their lines, so a CSAT sent as ``"4"`` or an
object where an object is expected sent as text is judged alike whichever way it arrives.

What the typed parse accepts (Spark's ``from_json``, the same for both): a number field only a
JSON number of its kind (``"2"`` or ``2.5`` in an integer field is a mismatch), a boolean field
only ``true``/``false``, an object field only an object; a text field takes any JSON value as
its text (a number ``123`` becomes ``"123"``). A field the schema does not name is not judged:
new optional fields pass (docs/sources.md, "Schema evolution").

Only a record the typed parse flags (a value it could not convert: Spark's corrupt-record
column) is searched for the field; a record it reads without complaint has no wrong type. The
stream gates its search the same way. A key given twice is read as its last value, so
``"qty":2,"qty":null`` is a qty not given, not a wrong type.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql.types import DataType, StringType, StructField, StructType

# Spark's corrupt-record column: set on a row whose typed parse could not convert a value.
CORRUPT = "_corrupt_record"
_OPTIONS = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT}


def first_wrong_type(
    fields: Sequence[tuple[Column, str]], raw_at: Callable[[str], Column]
) -> Column:
    """The path of the first field (in the order given) that the raw JSON has but the typed
    parse could not read; null when there is none.

    Args:
        fields: (the field's value after the typed parse, its JSON path) pairs.
        raw_at: the raw JSON text at a path (``get_json_object``), null when absent or null.
    """
    return F.coalesce(
        *[F.when(typed.isNull() & raw_at(path).isNotNull(), F.lit(path)) for typed, path in fields]
    )


def wrong_type(raw: Column, schema: StructType | str) -> Column:
    """``wrong_type: <field>`` for the first top-level field of ``schema`` (a struct type or
    its DDL text) whose value in the JSON object ``raw`` does not fit the field's type; null
    when every field fits (or the text is not a JSON object, which the caller rejects on its
    own)."""
    if isinstance(schema, str):
        schema = DataType.fromDDL(schema)  # needs the running session: not at import
    typed = F.from_json(raw, StructType([*schema.fields, StructField(CORRUPT, StringType())]),
                        _OPTIONS)
    # The search reads the raw text once per field the parse left null: on every record it
    # was most of a web line's normalization (docs/performance.md, Batch ingest).
    found = F.when(typed[CORRUPT].isNotNull(), first_wrong_type(
        [(typed[f.name], f.name) for f in schema.fields],
        lambda path: F.get_json_object(raw, f"$.{path}"),
    ))
    return F.when(found.isNotNull(), F.concat(F.lit("wrong_type: "), found))
