"""One block of people, end to end: population, five sources, encoded rows and truth.

:func:`generate_block` is pure (no file system): it returns bytes per source and Arrow
tables of ground truth; the writer decides where they go. Blocks are independent, so a job
may generate them in parallel and write them in block order.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import numpy as np
import pandas as pd
import pyarrow as pa

from pipelines.synth import crm, encode, orders, social, tickets, web
from pipelines.synth.context import BlockContext
from pipelines.synth.people import draw_population
from pipelines.synth.records import finish
from pipelines.synth.settings import GeneratorSpec
from pipelines.synth.truth import identifier_rows, people_table

# Source name -> module, in the order files are written.
SOURCES: dict[str, ModuleType] = {
    "crm": crm,
    "orders": orders,
    "tickets": tickets,
    "web": web,
    "social": social,
}
# Source name -> file format (and extension): csv, jsonl (one object per line) or json (one
# document per file).
FORMATS = {"crm": "csv", "orders": "csv", "tickets": "jsonl", "web": "jsonl", "social": "json"}
ENCODE_ROWS = 250_000


@dataclass(frozen=True)
class SourceChunk:
    payload: list[pa.Buffer]  # encoded rows; no CSV header, no JSON document framing
    rows: int  # physical rows, duplicates included
    truth: pa.Table  # one row per distinct record (records.TRUTH_SCHEMA)


@dataclass(frozen=True)
class BlockOutput:
    block: int
    people: int
    chunks: dict[str, SourceChunk]
    people_truth: pa.Table
    identifiers: pd.DataFrame  # truth.identifier_rows


def generate_block(spec: GeneratorSpec, block: int) -> BlockOutput:
    """Everything one block of people contributes to one batch."""
    population = draw_population(spec, block)
    ctx = BlockContext.build(spec, block, population)
    chunks = {}
    for name, module in SOURCES.items():
        records = module.build(ctx)
        # CRM exports list customers in id order; the other systems export in time order.
        order = np.arange(len(records.table)) if name == "crm" else None
        finished = finish(records, population.people, module.record_key,
                          spec.shares.duplicate_share, ctx.rng(f"{name}/duplicates"), order)
        payload = encode_rows(name, finished.table, finished.file_order)
        chunks[name] = SourceChunk(payload, len(finished.file_order), finished.truth)
    return BlockOutput(block, len(population.people), chunks, people_table(population),
                       identifier_rows(population))


def encode_rows(source: str, table: pa.Table, file_order: np.ndarray) -> list[pa.Buffer]:
    """Rows ``file_order`` of ``table`` in the source's file format, without CSV header or
    JSON document framing. JSON-document rows start with ",\\n" (the writer drops it before
    a file's first element)."""
    module = SOURCES[source]
    fmt = FORMATS[source]
    out: list[pa.Buffer] = []
    # Slices keep each Arrow string buffer far below its 2 GiB offset limit.
    for start in range(0, len(file_order), ENCODE_ROWS):
        rows = table.take(pa.array(file_order[start:start + ENCODE_ROWS]))
        if fmt == "csv":
            out.append(pa.py_buffer(encode.csv_rows(rows.select(list(module.COLUMNS)),
                                                    header=False)))
        else:
            lead, tail = (",\n", "") if fmt == "json" else ("", "\n")
            out += encode.text_buffers(module.to_json_lines(rows, lead, tail))
    return out


def csv_header(source: str) -> bytes:
    columns = SOURCES[source].COLUMNS
    empty = pa.table({c: pa.array([], pa.string()) for c in columns})
    return encode.csv_rows(empty, header=True)
