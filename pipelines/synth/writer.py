"""Writes a batch: source files under the landing folder, ground truth under the truth folder.

Layout (``<batch>`` is e.g. ``batch-0001``; one part file per 50,000 people):

    <landing>/crm/<batch>-part-00000.csv        <truth>/people.parquet
    <landing>/orders/<batch>-part-00000.csv     <truth>/identifier_person.parquet
    <landing>/tickets/<batch>-part-00000.jsonl  <truth>/record_person/<batch>.parquet
    <landing>/web/<batch>-part-00000.jsonl      <truth>/manifests/<batch>.json
    <landing>/social/<batch>-part-00000.json

A part file is written under a hidden temporary name (".…tmp", which Spark and most file
listings skip) and renamed when complete, so an incremental ingest never sees half a file.
Re-running a batch replaces that batch's files and nothing else.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.synth import examples
from pipelines.synth.block import FORMATS, SOURCES, BlockOutput, csv_header
from pipelines.synth.records import TRUTH_SCHEMA
from pipelines.synth.settings import BLOCKS_PER_PART, GeneratorSpec
from pipelines.synth.truth import IDENTIFIER_SCHEMA, PEOPLE_SCHEMA, finalize_identifiers

RECORD_TRUTH_SCHEMA = pa.schema(
    [("source", pa.string()), ("batch", pa.string()), ("file", pa.string())]
    + list(TRUTH_SCHEMA)
)


@dataclass
class SourceStats:
    files: list[str] = field(default_factory=list)
    rows: int = 0  # physical rows, duplicates included
    records: int = 0  # distinct records
    duplicates: int = 0
    invalid: int = 0
    unowned: int = 0  # junk rows that belong to nobody


@dataclass
class _OpenPart:
    fh: IO[bytes]
    tmp: Path
    final: Path
    elements: int = 0


class BatchWriter:
    """Appends block outputs (in block order) to part files and truth tables."""

    def __init__(self, landing: str | os.PathLike[str], truth: str | os.PathLike[str],
                 batch: str, spec: GeneratorSpec):
        for location in (landing, truth):
            if "://" in str(location):
                raise ValueError(f"the generator writes local files only, got {location}; "
                                 "generate locally and copy to object storage")
        if not batch or "/" in batch or batch.startswith((".", "_")):
            raise ValueError(f"invalid batch name: {batch!r}")
        self.landing = Path(landing)
        self.truth = Path(truth)
        self.batch = batch
        self.spec = spec
        self.stats = {name: SourceStats() for name in SOURCES}
        self.people = 0
        self.manifest: dict[str, Any] | None = None
        self._parts: dict[str, _OpenPart] = {}
        self._part_index = -1
        self._collective: list[pd.DataFrame] = []
        self._clear_previous()
        (self.truth / "record_person").mkdir(parents=True, exist_ok=True)
        (self.truth / "manifests").mkdir(parents=True, exist_ok=True)
        self._people_writer = pq.ParquetWriter(self.truth / "people.parquet", PEOPLE_SCHEMA)
        self._id_writer = pq.ParquetWriter(self.truth / "identifier_person.parquet",
                                           IDENTIFIER_SCHEMA)
        self._record_writer = pq.ParquetWriter(
            self.truth / "record_person" / f"{batch}.parquet", RECORD_TRUTH_SCHEMA)

    def part_name(self, source: str, part: int) -> str:
        """File path of a part, relative to the landing folder."""
        return f"{source}/{self.batch}-part-{part:05d}.{FORMATS[source]}"

    def _clear_previous(self) -> None:
        for source in SOURCES:
            folder = self.landing / source
            folder.mkdir(parents=True, exist_ok=True)
            for old in folder.glob(f"{self.batch}-part-*.{FORMATS[source]}"):
                old.unlink()
            for old in folder.glob(f".{self.batch}-part-*.tmp"):
                old.unlink()
        (self.truth / "record_person" / f"{self.batch}.parquet").unlink(missing_ok=True)

    def write(self, out: BlockOutput) -> None:
        part = out.block // BLOCKS_PER_PART
        if part != self._part_index:
            self._close_parts()
            self._open_parts(part)
        for source, chunk in out.chunks.items():
            opened = self._parts[source]
            for i, buf in enumerate(chunk.payload):
                if FORMATS[source] == "json" and opened.elements == 0 and i == 0:
                    buf = buf.slice(2)  # the file's first element takes no ",\n"
                opened.fh.write(buf)
            truth = chunk.truth
            opened.elements += chunk.rows
            stats = self.stats[source]
            stats.rows += chunk.rows
            stats.records += truth.num_rows
            stats.duplicates += chunk.rows - truth.num_rows
            stats.invalid += truth.num_rows - truth.column("invalid_reason").null_count
            stats.unowned += truth.column("person_id").null_count
            n = truth.num_rows
            labels = pa.table({
                "source": pa.array([source] * n, pa.string()),
                "batch": pa.array([self.batch] * n, pa.string()),
                "file": pa.array([self.part_name(source, part)] * n, pa.string()),
            })
            self._record_writer.write_table(
                pa.Table.from_arrays(labels.columns + truth.columns,
                                     schema=RECORD_TRUTH_SCHEMA))
        self._people_writer.write_table(out.people_truth)
        ids = out.identifiers
        collective = ids["collective"].to_numpy()
        self._collective.append(ids[collective])
        # Personal identifiers belong to one person by construction (see contacts.py).
        self._id_writer.write_table(finalize_identifiers(ids[~collective]))
        self.people += out.people

    def _open_parts(self, part: int) -> None:
        self._part_index = part
        for source in SOURCES:
            final = self.landing / self.part_name(source, part)
            tmp = final.with_name(f".{final.stem}.tmp")
            fh = open(tmp, "wb")  # noqa: SIM115 - closed in _close_parts
            if FORMATS[source] == "csv":
                fh.write(csv_header(source))
            elif FORMATS[source] == "json":
                fh.write(b'{"data":[\n')
            self._parts[source] = _OpenPart(fh, tmp, final)

    def _close_parts(self) -> None:
        for source, opened in self._parts.items():
            if FORMATS[source] == "json":
                meta = {"result_count": opened.elements, "next_token": None}
                opened.fh.write(b"\n],\"meta\":" + json.dumps(meta).encode() + b"}\n")
            opened.fh.close()
            os.replace(opened.tmp, opened.final)
            self.stats[source].files.append(str(opened.final.relative_to(self.landing)))
        self._parts = {}

    def close(self) -> dict[str, Any]:
        """Finish every file; returns the batch manifest (also written as JSON)."""
        if self.manifest is not None:
            return self.manifest
        self._close_parts()
        if self._collective:
            rows = pd.concat(self._collective, ignore_index=True)
            if len(rows):
                self._id_writer.write_table(finalize_identifiers(rows))
        for writer in (self._people_writer, self._id_writer, self._record_writer):
            writer.close()
        manifest = {
            "batch": self.batch,
            "people": self.people,
            "spec": {
                "seed": self.spec.seed,
                "customers": self.spec.customers,
                "start": self.spec.start.isoformat(),
                "days": self.spec.days,
                "population_date": self.spec.anchor.isoformat(),
                "shares": asdict(self.spec.shares),
            },
            "landing": str(self.landing),
            "sources": {name: asdict(s) for name, s in self.stats.items()},
        }
        path = self.truth / "manifests" / f"{self.batch}.json"
        path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        self.manifest = manifest
        return manifest

    def __enter__(self) -> BatchWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()
            return
        for opened in self._parts.values():  # failed run: leave no half-written part behind
            opened.fh.close()
            opened.tmp.unlink(missing_ok=True)
        self._parts = {}
        for writer in (self._people_writer, self._id_writer, self._record_writer):
            writer.close()


def write_examples(landing: str | os.PathLike[str], truth: str | os.PathLike[str], batch: str,
                   out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write a curated sample of the first part file of every source to ``out_dir``
    (``<source>.<ext>``), each sample in exactly the source's file format."""
    landing, out = Path(landing), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    records = pq.read_table(Path(truth) / "record_person" / f"{batch}.parquet",
                            columns=["source", "record_key", "invalid_reason"]).to_pandas()
    written = []
    for source, fmt in FORMATS.items():
        text = (landing / f"{source}/{batch}-part-00000.{fmt}").read_text(encoding="utf-8")
        lines = text.splitlines()
        header: list[str] | None = None
        if fmt == "csv":
            header = next(csv.reader([lines[0]]))
            head, lines = [lines[0]], lines[1:]
        elif fmt == "json":
            head, lines = [], [ln.rstrip(",") for ln in lines[1:-1]]
        else:
            head = []
        rows = [examples.parse_line(source, ln, header) for ln in lines]
        keys = [examples.record_key(source, r) for r in rows]
        mine = records[records["source"] == source]
        invalid = dict(zip(mine["record_key"], mine["invalid_reason"], strict=True))
        picked = [lines[i] for i in examples.pick_lines(source, rows, keys, invalid)]
        if fmt == "json":
            meta = {"result_count": len(picked), "next_token": None}
            body = '{"data":[\n' + ",\n".join(picked) + '\n],"meta":' + json.dumps(meta) + "}\n"
        else:
            body = "".join(f"{ln}\n" for ln in head + picked)
        path = out / f"{source}.{fmt}"
        path.write_text(body, encoding="utf-8")
        written.append(path)
    return written
