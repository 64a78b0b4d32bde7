"""Expectation suites (``expectations/<table>.json``, GX 1.x serialization) and their split
into row-level checks and table-level checks.

Row-level: column-map expectations that judge each row on its own (not null, in set, between,
regex, length). The gate evaluates them as Spark predicates so failing rows can be isolated
and quarantined at any scale — GX's Spark engine counts unexpected rows but only returns them
by collecting to the driver. Everything else (row counts, uniqueness, means, schema) judges the
batch as a whole and is table-level. As in GX, column-map expectations ignore nulls, except
the null checks themselves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F


class SuiteError(ValueError):
    """An expectation suite is missing or malformed."""


@dataclass(frozen=True)
class Expectation:
    type: str
    kwargs: dict[str, Any]
    meta: dict[str, Any]

    @property
    def label(self) -> str:
        """Readable name used in quarantine reasons and error messages."""
        column = self.kwargs.get("column")
        args = {k: v for k, v in self.kwargs.items() if k not in {"column", "mostly"}}
        detail = ", ".join(f"{k}={v}" for k, v in args.items())
        inner = ", ".join(filter(None, [f"column={column}" if column else "", detail]))
        return f"{self.type}({inner})"

    @property
    def is_row_level(self) -> bool:
        return self.type in _ROW_PREDICATES

    def row_passes(self) -> Column:
        """Spark predicate that is true when a row satisfies this expectation."""
        return _ROW_PREDICATES[self.type](self.kwargs)


@dataclass(frozen=True)
class Suite:
    name: str
    expectations: tuple[Expectation, ...]
    raw: dict[str, Any]

    @property
    def row_level(self) -> tuple[Expectation, ...]:
        return tuple(e for e in self.expectations if e.is_row_level)

    @property
    def table_level(self) -> tuple[Expectation, ...]:
        return tuple(e for e in self.expectations if not e.is_row_level)


def load_suite(path: Path) -> Suite:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SuiteError(f"no expectation suite at {path}: every gated table needs one") from None
    except json.JSONDecodeError as exc:
        raise SuiteError(f"expectation suite {path} is not valid JSON: {exc}") from None
    entries = raw.get("expectations")
    if not isinstance(entries, list) or not entries:
        raise SuiteError(f"expectation suite {path} has no expectations")
    expectations = []
    for i, entry in enumerate(entries):
        if "type" not in entry or not isinstance(entry.get("kwargs", {}), dict):
            raise SuiteError(f"expectation #{i} in {path} needs a 'type' and a 'kwargs' mapping")
        expectations.append(
            Expectation(entry["type"], dict(entry.get("kwargs", {})), dict(entry.get("meta", {})))
        )
    return Suite(raw.get("name", path.stem), tuple(expectations), raw)


def _col(kw: dict[str, Any]) -> Column:
    return F.col(f"`{kw['column']}`")


def _null_or(kw: dict[str, Any], check: Column) -> Column:
    return _col(kw).isNull() | check


def _between(kw: dict[str, Any]) -> Column:
    c = _col(kw)
    ok = F.lit(True)
    if kw.get("min_value") is not None:
        ok = ok & (c > kw["min_value"] if kw.get("strict_min") else c >= kw["min_value"])
    if kw.get("max_value") is not None:
        ok = ok & (c < kw["max_value"] if kw.get("strict_max") else c <= kw["max_value"])
    return _null_or(kw, ok)


def _lengths(kw: dict[str, Any]) -> Column:
    n = F.length(_col(kw))
    ok = F.lit(True)
    if kw.get("min_value") is not None:
        ok = ok & (n >= kw["min_value"])
    if kw.get("max_value") is not None:
        ok = ok & (n <= kw["max_value"])
    return _null_or(kw, ok)


_ROW_PREDICATES = {
    "expect_column_values_to_not_be_null": lambda kw: _col(kw).isNotNull(),
    "expect_column_values_to_be_null": lambda kw: _col(kw).isNull(),
    "expect_column_values_to_be_in_set": lambda kw: _null_or(kw, _col(kw).isin(kw["value_set"])),
    "expect_column_values_to_not_be_in_set": lambda kw: _null_or(
        kw, ~_col(kw).isin(kw["value_set"])
    ),
    "expect_column_values_to_be_between": _between,
    "expect_column_values_to_match_regex": lambda kw: _null_or(kw, _col(kw).rlike(kw["regex"])),
    "expect_column_values_to_not_match_regex": lambda kw: _null_or(
        kw, ~_col(kw).rlike(kw["regex"])
    ),
    "expect_column_value_lengths_to_be_between": _lengths,
}
