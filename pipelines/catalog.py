"""The catalog: logical table names mapped to locations and layout (``conf/catalog.yaml``).

Code asks for "profiles", never for a path; moving a table to object storage is a config change.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipelines.config import Conf, ConfigError, resolve_location

# Suites sit beside conf/ in the project folder (``Conf.project_dir``): a job run from a
# wheel or zip (spark-submit --py-files) finds them there, not inside the package.
EXPECTATIONS = "expectations"


@dataclass(frozen=True)
class TableSpec:
    name: str
    path: str
    partition_by: tuple[str, ...] = ()
    # (column, SQL expression): Delta generated columns, computed by Delta on every write.
    generated: tuple[tuple[str, str], ...] = ()
    suite: str | None = None
    gated: bool = True
    expectations_dir: Path = Path(__file__).resolve().parents[1] / EXPECTATIONS

    @property
    def suite_file(self) -> Path:
        """``suite`` is a name in expectations/ or a path to a JSON suite elsewhere."""
        if self.suite and self.suite.endswith(".json"):
            return Path(self.suite)
        return self.expectations_dir / f"{self.suite or self.name}.json"


class Catalog:
    def __init__(self, conf: Conf):
        self._conf = conf
        self._lakehouse = conf.path("paths.lakehouse")

    @property
    def conf(self) -> Conf:
        return self._conf

    def table(self, name: str) -> TableSpec:
        entries = self._conf.get("catalog")
        if name not in entries.data:
            raise ConfigError(
                f"unknown table '{name}': not in the catalog ({', '.join(self._conf.files)})"
            )
        entry = entries.get(name)
        raw_path = str(entry.get("path"))
        if "://" in raw_path or raw_path.startswith("/"):
            location = resolve_location(raw_path, self._conf.project_dir)
        else:
            location = f"{self._lakehouse.rstrip('/')}/{raw_path}"
        return TableSpec(
            name=name,
            path=location,
            partition_by=tuple(entry.get("partition_by", []) or []),
            generated=tuple((k, str(v)) for k, v in entry.get("generated", {}).items()),
            suite=entry.get("suite", None),
            gated=bool(entry.get("gated", True)),
            expectations_dir=self._conf.project_dir / EXPECTATIONS,
        )

    def path(self, name: str) -> str:
        return self.table(name).path

    def names(self) -> list[str]:
        return list(self._conf.get("catalog").data)
