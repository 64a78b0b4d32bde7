"""Vectorized text encoders: JSON objects and CSV rows built column-wise with Arrow compute.

Building millions of JSON lines with a Python loop is the generator's bottleneck at scale;
here every field becomes a column of JSON fragments and the fragments are joined in C.
Values from controlled vocabularies (ids, e-mails, URLs, labels) never hold a quote, a
backslash or a control character, so only free text (``json_text``) pays for escaping.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

Fragment = pa.Array | pa.ChunkedArray


def json_str(values: Fragment) -> Fragment:
    """A string column as JSON fragments: ``"value"`` or ``null``."""
    return pc.fill_null(pc.binary_join_element_wise("", values, "", '"'), "null")


def json_text(values: Fragment) -> Fragment:
    """Free text: escape backslashes, quotes and newlines, then quote."""
    escaped = pc.replace_substring(values, "\\", "\\\\")
    escaped = pc.replace_substring(escaped, '"', '\\"')
    escaped = pc.replace_substring(escaped, "\n", "\\n")
    return json_str(escaped)


def json_num(values: Fragment) -> Fragment:
    """A numeric column as JSON numbers (shortest round-trip form) or ``null``."""
    return pc.fill_null(pc.cast(values, pa.string()), "null")


def json_object(fields: Sequence[tuple[str, Fragment]], lead: str = "", tail: str = "") -> Fragment:
    """Join named fragments into one ``{"name":value,...}`` object per row (field order kept);
    ``lead``/``tail`` are written before/after each object (e.g. a newline)."""
    parts: list[object] = []
    for i, (name, fragment) in enumerate(fields):
        parts.append((lead + "{" if i == 0 else ",") + f'"{name}":')
        parts.append(fragment)
    parts.append("}" + tail)
    return pc.binary_join_element_wise(*parts, "")


def json_array(fragments: pa.Array, offsets: pa.Array) -> pa.Array:
    """Group fragments into JSON arrays: row i holds fragments[offsets[i]:offsets[i + 1]]."""
    lists = pa.ListArray.from_arrays(offsets, fragments)
    return pc.binary_join_element_wise("[", pc.binary_join(lists, ","), "]", "")


def text_buffers(rows: Fragment) -> list[pa.Buffer]:
    """The concatenated UTF-8 bytes of string rows, as zero-copy buffers (one per chunk)."""
    chunks = rows.chunks if isinstance(rows, pa.ChunkedArray) else [rows]
    out = []
    for chunk in chunks:
        if len(chunk) == 0:
            continue
        if chunk.null_count:
            raise ValueError("cannot encode null rows")
        if pa.types.is_large_string(chunk.type):
            offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int64)
        else:
            offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int32)
        first, last = int(offsets[chunk.offset]), int(offsets[chunk.offset + len(chunk)])
        out.append(chunk.buffers()[2].slice(first, last - first))
    return out


def csv_rows(table: pa.Table, header: bool) -> bytes:
    """CSV as an export tool writes it: every text value quoted, empty field for null."""
    sink = pa.BufferOutputStream()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=header))
    return sink.getvalue().to_pybytes()
