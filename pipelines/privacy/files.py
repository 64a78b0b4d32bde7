"""Erasure in plain files: the landing copies of source exports and the full validation
results (Great Expectations JSON) the gate keeps under ``paths.validation``.

Rules:
- A landing record is the person's when one of their identifiers or profile ids appears in
  it as a whole token (``subject.value_pattern``): a CSV row, a JSON line, or an element of
  a JSON document's record list. The file is rewritten without those records, atomically,
  with its modification time kept, so only its size tells the batch ingest it changed.
- A validation JSON file keeps its structure; every string holding one of the values (GX's
  ``partial_unexpected_list`` samples, for example) becomes ``"[erased]"``.
Only local folders are handled here; on an object store (``paths.landing`` with a scheme)
``rewrite_landing`` refuses, naming the folder.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ERASED = "[erased]"


@dataclass
class FileChange:
    path: Path
    records_removed: int
    old_size: int
    new_size: int


@dataclass
class FilesReport:
    landing: list[FileChange] = field(default_factory=list)
    validation_files: int = 0
    validation_values: int = 0


def _local(folder: str) -> Path:
    if "://" in folder:
        raise RuntimeError(
            f"{folder} is not a local folder: erase its files with the object store's tools")
    return Path(folder)


def filter_csv(text: str, pattern: re.Pattern[str]) -> tuple[str, int]:
    """The CSV without the data rows matching ``pattern`` (the header stays)."""
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows:
        return text, 0
    kept = [rows[0]] + [r for r in rows[1:] if not pattern.search(",".join(r))]
    removed = len(rows) - len(kept)
    if not removed:
        return text, 0
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\n").writerows(kept)
    return out.getvalue(), removed


def filter_lines(text: str, pattern: re.Pattern[str]) -> tuple[str, int]:
    lines = text.splitlines(keepends=True)
    kept = [line for line in lines if not pattern.search(line)]
    return "".join(kept), len(lines) - len(kept)


def filter_json_document(text: str, pattern: re.Pattern[str]) -> tuple[str, int]:
    """A JSON document of records (``[...]`` or ``{"data": [...]}``) without the matching
    records. A document that is neither is dropped whole when it matches."""
    doc = json.loads(text)
    records = doc.get("data") if isinstance(doc, dict) else doc
    if not isinstance(records, list):
        return ("", 1) if pattern.search(text) else (text, 0)
    kept = [r for r in records if not pattern.search(json.dumps(r, ensure_ascii=False))]
    removed = len(records) - len(kept)
    if not removed:
        return text, 0
    if isinstance(doc, dict):
        doc["data"] = kept
    else:
        doc = kept
    return json.dumps(doc, ensure_ascii=False), removed


FILTERS = {".csv": filter_csv, ".jsonl": filter_lines, ".json": filter_json_document}


def _replace(path: Path, text: str) -> None:
    """Write ``text`` over ``path`` atomically, keeping its modification time."""
    stat = path.stat()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".erase-")
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
        f.write(text)
    os.utime(tmp, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(tmp, path)


def rewrite_landing(folder: str, pattern: re.Pattern[str]) -> list[FileChange]:
    """Remove the matching records from every landing file; returns the files changed."""
    root = _local(folder)
    changes: list[FileChange] = []
    if not root.exists():
        return changes
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        filt = FILTERS.get(path.suffix.lower())
        if filt is None:
            continue
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
        if not pattern.search(text):
            continue
        new_text, removed = filt(text, pattern)
        if removed:
            old = path.stat().st_size
            _replace(path, new_text)
            changes.append(FileChange(path, removed, old, path.stat().st_size))
    return changes


def scrub_json(value: Any, pattern: re.Pattern[str]) -> tuple[Any, int]:
    """``value`` with every matching string (values and keys) replaced by ``ERASED``."""
    if isinstance(value, str):
        return (ERASED, 1) if pattern.search(value) else (value, 0)
    if isinstance(value, list):
        pairs = [scrub_json(v, pattern) for v in value]
        return [v for v, _ in pairs], sum(n for _, n in pairs)
    if isinstance(value, dict):
        out, total = {}, 0
        for k, v in value.items():
            new_k, nk = scrub_json(k, pattern) if isinstance(k, str) else (k, 0)
            new_v, nv = scrub_json(v, pattern)
            out[new_k] = new_v
            total += nk + nv
        return out, total
    return value, 0


def _json_files(root: Path) -> Iterator[Path]:
    return (p for p in root.rglob("*.json") if p.is_file())


def scrub_validation(folder: str, pattern: re.Pattern[str]) -> tuple[int, int]:
    """Scrub every validation JSON file; returns (files changed, values erased)."""
    root = Path(folder)
    if "://" in folder or not root.exists():
        return 0, 0  # the gate writes these files only to local folders (pipelines/gate)
    files = values = 0
    for path in sorted(_json_files(root)):
        # Parsed, not searched as text: the gate writes them ASCII-escaped (\u00eb).
        doc, n = scrub_json(json.loads(path.read_text(encoding="utf-8")), pattern)
        if n:
            _replace(path, json.dumps(doc, default=str, indent=1))
            files += 1
            values += n
    return files, values
