"""Layered configuration: ``conf/base.yaml`` overlaid by ``conf/<env>.yaml``.

The environment is chosen by one setting: the ``env`` argument (jobs pass ``--env``), else
``PROFILAKE_ENV``, else ``local``. The base file declares every key; an overlay may only
override declared keys with a value of the same kind, so a typo in an overlay fails at load
with the key and the file named. ``conf/catalog.yaml`` is loaded under the key ``catalog``.

Values may refer to other keys (``${paths.root}``) and to environment variables
(``${env:NAME}`` or ``${env:NAME:-default}``) — secrets come from the environment, never from
a committed file.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PROJECT_DIR = Path(__file__).resolve().parents[1]
DEFAULT_ENV = "local"
# Maps whose keys are free-form: an overlay may add entries the base does not declare.
OPEN_MAPS = frozenset(
    {"spark.settings", "catalog", "currency.rates", "currency.minor_unit_digits",
     "maintenance.tables"}
)
_REF = re.compile(r"\$\{([^}]+)\}")


class ConfigError(KeyError):
    """A configuration key is missing, unknown or of the wrong kind."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it readable.
        return str(self.args[0])


@dataclass(frozen=True)
class Conf:
    """Read-only view of the merged configuration with dotted-key access."""

    data: Mapping[str, Any]
    env: str
    files: tuple[str, ...]
    project_dir: Path = field(default=PROJECT_DIR)
    prefix: str = ""

    def get(self, key: str, default: Any = ...) -> Any:
        node: Any = self.data
        walked = []
        for part in key.split("."):
            walked.append(part)
            if not isinstance(node, Mapping) or part not in node:
                if default is not ...:
                    return default
                full = ".".join(filter(None, [self.prefix, ".".join(walked)]))
                raise ConfigError(
                    f"missing config key '{full}' (looked in {', '.join(self.files)})"
                )
            node = node[part]
        if isinstance(node, Mapping):
            return Conf(node, self.env, self.files, self.project_dir, self._full(key))
        return node

    def __getitem__(self, key: str) -> Any:
        return self.get(key)

    def __contains__(self, key: str) -> bool:
        return self.get(key, default=None) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def items(self) -> Iterator[tuple[str, Any]]:
        # Direct access: keys of open maps may themselves contain dots (Spark settings).
        for k, v in self.data.items():
            yield (
                k,
                Conf(v, self.env, self.files, self.project_dir, self._full(k))
                if isinstance(v, Mapping)
                else v,
            )

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(dict(self.data))

    def path(self, key: str) -> str:
        """A location-valued key, relative paths made absolute against the project dir."""
        return resolve_location(str(self.get(key)), self.project_dir)

    def _full(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key


# Sections that describe where running services keep their data: a relocated conf still talks
# to the same broker and Redis, so their data directories stay where those services run.
SERVICE_SECTIONS = ("kafka.broker", "redis.server")
_SQLITE = "sqlite:///"


def relocated(conf: Conf, root: str) -> Conf:
    """``conf`` with ``paths.root`` moved to ``root`` (a scratch lakehouse for tests, benchmarks
    or a side-by-side run): every value that lies under the old root moves along — the data
    paths, the MLflow store, lock files, model and report directories — while services, ports
    and thresholds stay unchanged."""
    old = conf.path("paths.root").rstrip("/")
    new = resolve_location(root, conf.project_dir).rstrip("/")

    def move(value: str) -> str:
        if value.startswith(_SQLITE):
            return _SQLITE + move(value[len(_SQLITE):])
        if "://" in value:
            return value
        where = resolve_location(value, conf.project_dir)
        if where == old or where.startswith(old + "/"):
            return new + where[len(old):]
        return value

    def walk(node: Any, key: str) -> Any:
        if key in SERVICE_SECTIONS:
            return node
        if isinstance(node, dict):
            return {k: walk(v, f"{key}.{k}" if key else k) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, key) for v in node]
        return move(node) if isinstance(node, str) and node else node

    return Conf(walk(conf.to_dict(), ""), conf.env, conf.files, conf.project_dir)


# A lakehouse somewhere else than the environment's ``paths.root``: the notebooks read it, so a
# test (or anyone) can point them at a scratch lakehouse without editing them.
ROOT_ENV = "PROFILAKE_ROOT"


@contextmanager
def environ_set(name: str, value: str) -> Iterator[None]:
    """``name`` = ``value`` in this process's environment for the block, then as it was
    (unset again if it was unset)."""
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def with_root_override(conf: Conf) -> Conf:
    """``conf`` relocated (see ``relocated``) to ``$PROFILAKE_ROOT`` when that is set, else
    ``conf`` unchanged."""
    root = os.environ.get(ROOT_ENV)
    return relocated(conf, root) if root else conf


def overridden(conf: Conf, values: Mapping[str, Any]) -> Conf:
    """``conf`` with dotted keys replaced (``{"cache.prefix": "t1"}``), for tests, benchmarks
    and job flags; a key the conf does not have fails as a typo would in an overlay."""
    data = conf.to_dict()
    for key, value in values.items():
        *parents, leaf = key.split(".")
        node = data
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict) or leaf not in node:
            raise ConfigError(f"unknown config key '{key}'")
        node[leaf] = value
    return Conf(data, conf.env, conf.files, conf.project_dir)


def flag_values(conf: Conf, items: Iterable[str]) -> dict[str, Any]:
    """``--set KEY=VALUE`` flags as values for ``overridden``. A value replacing a string stays
    the text as typed (a prefix ``0123`` or ``off`` is not a number or a boolean); any other
    value is read as YAML, as an overlay file would give it (``6380`` an int, ``false`` False,
    ``[a, b]`` a list). A flag without ``=`` or naming a key ``conf`` lacks is refused."""
    values: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set wants KEY=VALUE, got {item!r}")
        values[key] = text if isinstance(conf.get(key), str) else yaml.safe_load(text)
    return values


def resolve_location(value: str, base: Path) -> str:
    """Absolute local path for ``value``; URIs with a scheme (s3a://, abfss://) pass through."""
    if "://" in value:
        return value
    p = Path(os.path.expanduser(value))
    return str(p if p.is_absolute() else (base / p).resolve())


def conf_dir() -> Path:
    return Path(os.environ.get("PROFILAKE_CONF_DIR", PROJECT_DIR / "conf"))


def load_conf(env: str | None = None, directory: Path | None = None) -> Conf:
    """Load base + catalog + the environment overlay, validated and interpolated, relocated to
    ``$PROFILAKE_ROOT`` when that is set (``with_root_override``)."""
    env = env or os.environ.get("PROFILAKE_ENV") or DEFAULT_ENV
    directory = Path(directory) if directory else conf_dir()
    base_file = directory / "base.yaml"
    merged = _read_yaml(base_file)
    files = [str(base_file)]
    catalog_file = directory / "catalog.yaml"
    if catalog_file.exists():
        merged["catalog"] = _read_yaml(catalog_file)
        files.append(str(catalog_file))
    overlay_file = directory / f"{env}.yaml"
    if not overlay_file.exists():
        known = sorted(
            p.stem for p in directory.glob("*.yaml") if p.stem not in {"base", "catalog"}
        )
        raise ConfigError(f"unknown environment '{env}': no {overlay_file} (known: {known})")
    _merge(merged, _read_yaml(overlay_file), str(overlay_file), prefix="")
    files.append(str(overlay_file))
    resolved = _interpolate(merged, merged, files)
    return with_root_override(Conf(resolved, env, tuple(files), directory.resolve().parent))


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at top level")
    return data


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, Mapping):
        return "mapping"
    if isinstance(value, list):
        return "list"
    if value is None:
        return "null"
    return "string"


def _merge(base: dict[str, Any], overlay: Mapping[str, Any], file: str, prefix: str) -> None:
    for key, value in overlay.items():
        dotted = f"{prefix}.{key}" if prefix else key
        if key not in base:
            if prefix in OPEN_MAPS:
                base[key] = copy.deepcopy(value)
                continue
            raise ConfigError(
                f"unknown config key '{dotted}' in {file} (not declared in base.yaml)"
            )
        current = base[key]
        # A string may stand for anything (an ${env:…} reference); otherwise kinds must agree.
        if _kind(current) not in {_kind(value), "null"} and _kind(value) != "string":
            raise ConfigError(
                f"config key '{dotted}' in {file} is a {_kind(value)}, "
                f"but base.yaml declares a {_kind(current)}"
            )
        if isinstance(current, dict) and isinstance(value, Mapping):
            _merge(current, value, file, dotted)
        else:
            base[key] = copy.deepcopy(value)


def _lookup(root: Mapping[str, Any], dotted: str, files: list[str]) -> Any:
    node: Any = root
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise ConfigError(f"config reference '${{{dotted}}}' names no key ({', '.join(files)})")
        node = node[part]
    return node


def _interpolate(node: Any, root: Mapping[str, Any], files: list[str], depth: int = 0) -> Any:
    if depth > 20:
        raise ConfigError(f"config references nest too deeply or loop ({', '.join(files)})")
    if isinstance(node, Mapping):
        return {k: _interpolate(v, root, files, depth) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate(v, root, files, depth) for v in node]
    if not isinstance(node, str) or "${" not in node:
        return node

    def substitute(match: re.Match[str]) -> str:
        ref = match.group(1)
        if ref.startswith("env:"):
            name, _, default = ref[4:].partition(":-")
            value = os.environ.get(name)
            if value is None:
                if ":-" not in ref:
                    raise ConfigError(f"environment variable {name} is not set (used in config)")
                value = default
            return value
        return str(_interpolate(_lookup(root, ref, files), root, files, depth + 1))

    return _interpolate(_REF.sub(substitute, node), root, files, depth + 1)


# A process started on a resolved conf (the API's children, scratch lakehouses): the conf as
# a JSON file (``Conf.to_dict``) instead of the files of an environment.
CONF_JSON_ENV = "PROFILAKE_CONF_JSON"


def load_conf_or_dump(env: str | None = None) -> Conf:
    """The conf dumped in the JSON file ``PROFILAKE_CONF_JSON`` names, else ``load_conf(env)``."""
    import json

    dumped = os.environ.get(CONF_JSON_ENV)
    base = load_conf(env)
    if not dumped:
        return base
    data = json.loads(Path(dumped).read_text(encoding="utf-8"))
    return Conf(data, base.env, base.files, base.project_dir)
