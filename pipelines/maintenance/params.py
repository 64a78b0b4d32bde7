"""Maintenance settings from conf (``maintenance:`` in conf/base.yaml), validated up front so a
bad retention or an unknown table fails before any table is touched."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pipelines.config import Conf, ConfigError

MB = 1024 * 1024
TABLE_KEYS = frozenset({"zorder_by", "retention_hours", "target_file_mb", "small_file_mb"})


class RetentionError(ConfigError):
    """A VACUUM retention below the configured minimum, or negative."""


@dataclass(frozen=True)
class TableRules:
    """What maintenance does to one table."""

    name: str
    zorder_by: tuple[str, ...]
    retention_hours: float
    target_file_bytes: int
    small_file_bytes: int


@dataclass(frozen=True)
class MaintenanceParams:
    min_small_files: int
    min_retention_hours: float
    allow_below_minimum: bool
    listing_parallelism: int
    retry_attempts: int
    retry_backoff_s: float
    defaults: dict
    overrides: dict

    @classmethod
    def from_conf(cls, conf: Conf, known_tables: Iterable[str]) -> MaintenanceParams:
        """Read ``maintenance.*``; a per-table entry for a table the catalog does not have, an
        unknown per-table key or a retention below the minimum fails here, naming it."""
        m = conf.get("maintenance")
        overrides = {name: dict(entry.to_dict()) for name, entry in m.get("tables").items()}
        known_tables = list(known_tables)  # checked in catalog order: the first bad one is named
        known = set(known_tables)
        for name, entry in overrides.items():
            if name not in known:
                raise ConfigError(
                    f"maintenance.tables.{name}: no such table in the catalog "
                    f"({', '.join(conf.files)})"
                )
            unknown = set(entry) - TABLE_KEYS
            if unknown:
                raise ConfigError(
                    f"maintenance.tables.{name}: unknown key(s) {sorted(unknown)} "
                    f"(known: {sorted(TABLE_KEYS)})"
                )
        params = cls(
            min_small_files=int(m.get("min_small_files")),
            min_retention_hours=float(m.get("vacuum.min_retention_hours")),
            allow_below_minimum=bool(m.get("vacuum.allow_below_minimum")),
            listing_parallelism=int(m.get("vacuum.listing_parallelism")),
            retry_attempts=int(m.get("retry.max_attempts")),
            retry_backoff_s=float(m.get("retry.backoff_s")),
            defaults={
                "zorder_by": [],
                "retention_hours": m.get("vacuum.retention_hours"),
                "target_file_mb": m.get("target_file_mb"),
                "small_file_mb": m.get("small_file_mb"),
            },
            overrides=overrides,
        )
        if min(params.min_small_files - 1, params.retry_attempts, params.listing_parallelism) < 1:
            raise ConfigError(
                "maintenance: need min_small_files >= 2, retry.max_attempts >= 1 and "
                "vacuum.listing_parallelism >= 1"
            )
        for name in known_tables:
            params.rules(name)  # every table's retention and sizes checked before any work
        return params

    def rules(self, table: str) -> TableRules:
        """The table's rules: its ``maintenance.tables`` entry over the defaults."""
        merged = {**self.defaults, **self.overrides.get(table, {})}
        retention = float(merged["retention_hours"])
        check_retention(table, retention, self.min_retention_hours, self.allow_below_minimum)
        target, small = float(merged["target_file_mb"]), float(merged["small_file_mb"])
        if not 0 < small <= target:
            raise ConfigError(
                f"maintenance for '{table}': need 0 < small_file_mb ({small}) <= "
                f"target_file_mb ({target})"
            )
        return TableRules(
            name=table,
            zorder_by=tuple(merged["zorder_by"] or ()),
            retention_hours=retention,
            target_file_bytes=int(target * MB),
            small_file_bytes=int(small * MB),
        )


def check_retention(table: str, hours: float, minimum: float, allow_below: bool) -> None:
    """VACUUM may not keep less history than ``minimum`` hours unless ``allow_below``: files a
    running stream, a long query or a time-travel read still needs would be deleted under it
    (the same reason Delta's own retentionDurationCheck refuses less than 7 days)."""
    if hours < 0:
        raise RetentionError(f"VACUUM retention for '{table}' is negative ({hours} h)")
    if hours < minimum and not allow_below:
        raise RetentionError(
            f"VACUUM retention for '{table}' is {hours:g} h, below the minimum of {minimum:g} h "
            "(maintenance.vacuum.min_retention_hours): readers and writers still running, and "
            "time travel within that window, could lose files. Raise the retention or set "
            "maintenance.vacuum.allow_below_minimum: true if no such reader exists."
        )


def select_tables(catalog_tables: Sequence[str], requested: Sequence[str] | None) -> list[str]:
    """The tables to maintain: every catalog table, or those named (``--table``), in catalog
    order; a name the catalog does not have fails with the known names listed."""
    if not requested:
        return list(catalog_tables)
    unknown = [t for t in requested if t not in catalog_tables]
    if unknown:
        raise ConfigError(
            f"unknown table(s) {', '.join(unknown)}: the catalog has {', '.join(catalog_tables)}"
        )
    return [t for t in catalog_tables if t in set(requested)]
