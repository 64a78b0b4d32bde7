"""Rule segments from ``conf/segments.yaml``, validated at load.

A rule's ``condition`` (and ``keep_condition``) is Spark SQL over the columns rules may see:
the features table's columns plus ``churn_score``, ``churn_band`` and ``cluster_name``. Each is
analyzed against an empty DataFrame of that schema when the rules load, so a typo, an unknown
column or a non-boolean condition fails there — naming the segment — not mid-run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType, DoubleType, StringType, StructField, StructType

MODEL_COLUMNS = (
    StructField("churn_score", DoubleType()),
    StructField("churn_band", StringType()),
    StructField("cluster_name", StringType()),
)
FIELDS = ("name", "description", "priority", "condition")


class SegmentRuleError(ValueError):
    """A segment rule is malformed; the message names the segment and the file."""


@dataclass(frozen=True)
class SegmentRule:
    name: str
    description: str
    priority: int
    condition: str
    keep_condition: str

    @property
    def column(self) -> str:
        """A column-safe identifier for the rule's intermediate flags."""
        return "seg_" + "".join(c if c.isalnum() else "_" for c in self.name.lower())


def rule_input_schema(features_schema: StructType) -> StructType:
    """What a condition may refer to: the features plus the model outputs."""
    return StructType([*features_schema.fields, *MODEL_COLUMNS])


def load_rules(
    path: str | Path, spark: SparkSession, features_schema: StructType
) -> list[SegmentRule]:
    """Read and validate the rules file; rules come back sorted by priority.

    Raises:
        SegmentRuleError: the file is malformed, or a rule is (its name in the message).
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise SegmentRuleError(f"segment rules file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise SegmentRuleError(f"segment rules file {path} is not valid YAML: {exc}") from None
    entries = raw.get("segments") if isinstance(raw, dict) else None
    if not isinstance(entries, list) or not entries:
        raise SegmentRuleError(f"{path}: expected a non-empty list under 'segments:'")
    return parse_rules(entries, spark, features_schema, source=str(path))


def parse_rules(
    entries: list[Any], spark: SparkSession, features_schema: StructType, source: str = "rules"
) -> list[SegmentRule]:
    rules: list[SegmentRule] = []
    for i, entry in enumerate(entries):
        name = entry.get("name") if isinstance(entry, dict) else None
        label = f"segment '{name}'" if name else f"segment #{i + 1}"
        if not isinstance(entry, dict):
            raise SegmentRuleError(f"{source}: {label} must be a mapping")
        missing = [k for k in FIELDS if entry.get(k) in (None, "")]
        if missing:
            raise SegmentRuleError(f"{source}: {label} lacks {', '.join(missing)}")
        unknown = set(entry) - {*FIELDS, "keep_condition"}
        if unknown:
            raise SegmentRuleError(f"{source}: {label} has unknown keys {sorted(unknown)}")
        if not isinstance(entry["priority"], int) or isinstance(entry["priority"], bool):
            raise SegmentRuleError(f"{source}: {label}: priority must be an integer")
        rules.append(
            SegmentRule(
                name=str(entry["name"]),
                description=str(entry["description"]),
                priority=int(entry["priority"]),
                condition=str(entry["condition"]).strip(),
                keep_condition=str(entry.get("keep_condition") or entry["condition"]).strip(),
            )
        )
    _check_unique(rules, source)
    schema = rule_input_schema(features_schema)
    empty = spark.createDataFrame([], schema)
    for rule in rules:
        for which in ("condition", "keep_condition"):
            _check_condition(empty, rule, which, getattr(rule, which), source)
    return sorted(rules, key=lambda r: r.priority)


def _check_unique(rules: list[SegmentRule], source: str) -> None:
    for attr in ("name", "priority", "column"):
        seen: dict[Any, str] = {}
        for r in rules:
            key = getattr(r, attr)
            if key in seen:
                raise SegmentRuleError(
                    f"{source}: segment '{r.name}' has the same {attr} as '{seen[key]}'"
                )
            seen[key] = r.name


def _check_condition(empty, rule: SegmentRule, which: str, text: str, source: str) -> None:
    try:
        dtype = empty.select(F.expr(text).alias("c")).schema["c"].dataType
    except Exception as exc:  # ParseException / AnalysisException: message names the problem
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SegmentRuleError(
            f"{source}: segment '{rule.name}': {which} `{text}` is invalid: {first}"
        ) from None
    if not isinstance(dtype, BooleanType):
        raise SegmentRuleError(
            f"{source}: segment '{rule.name}': {which} `{text}` is {dtype.simpleString()}, "
            "not boolean"
        )
