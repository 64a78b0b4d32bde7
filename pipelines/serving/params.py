"""Export settings (``export:`` in conf/base.yaml) as one typed object."""

from __future__ import annotations

from dataclasses import dataclass, field

from pipelines.config import Conf, ConfigError
from pipelines.serving.identifiers import ID_TYPES


@dataclass(frozen=True)
class ActionRule:
    """A next-best-action hint: when ``condition`` (Spark SQL over the export's candidate
    columns) holds, the row carries ``hint`` (or the string ``hint_sql`` computes)."""

    name: str
    condition: str
    hint: str
    priority: int = 100
    hint_sql: str | None = None


@dataclass(frozen=True)
class ExportParams:
    """What the chatbot export publishes and how.

    Attributes:
        hash_pepper: HMAC key for the hashed identifier types (secret: from the environment).
        lookup_id_types: identifier types published for lookup.
        hashed_id_types: of those, the ones published only as HMAC hex.
        allow_list: optional fields published besides the always-present keys.
        complementary_categories: category → category to suggest after a cart add.
        actions: next-best-action rules.
        rows_per_file: export file size, in rows, for fast point lookups.
        row_group_bytes: Parquet row-group size of the export files (a lookup decodes one).
    """

    hash_pepper: str = "dev-pepper"
    lookup_id_types: tuple[str, ...] = ID_TYPES
    hashed_id_types: tuple[str, ...] = ("email", "phone")
    allow_list: tuple[str, ...] = ()
    complementary_categories: dict[str, str] = field(default_factory=dict)
    actions: tuple[ActionRule, ...] = ()
    rows_per_file: int = 2000
    row_group_bytes: int = 65536

    def __post_init__(self) -> None:
        unknown = set(self.lookup_id_types) - set(ID_TYPES)
        if unknown:
            raise ConfigError(f"export.lookup_id_types has unknown types {sorted(unknown)}")
        if not self.hash_pepper:
            raise ConfigError("export.hash_pepper is empty: set PROFILAKE_HASH_PEPPER")
        if self.rows_per_file < 1:
            raise ConfigError("export.rows_per_file must be at least 1")

    @classmethod
    def from_conf(cls, conf: Conf) -> ExportParams:
        section = conf.get("export")
        rules = tuple(
            ActionRule(
                name=str(r["name"]),
                condition=str(r["when"]),
                hint=str(r.get("hint", "")),
                priority=int(r.get("priority", 100)),
                hint_sql=r.get("hint_sql"),
            )
            for r in (section.get("next_best_actions", []) or [])
        )
        return cls(
            hash_pepper=str(section.get("hash_pepper")),
            lookup_id_types=tuple(section.get("lookup_id_types")),
            hashed_id_types=tuple(section.get("hashed_id_types")),
            allow_list=tuple(section.get("allow_list")),
            complementary_categories=dict(section.get("complementary_categories").to_dict()),
            actions=rules,
            rows_per_file=int(section.get("rows_per_file")),
            row_group_bytes=int(section.get("row_group_bytes")),
        )
