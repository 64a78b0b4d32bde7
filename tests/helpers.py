"""Helpers for tests: conf variants (extra catalog entries, keys set by dotted name)."""

from __future__ import annotations

from typing import Any

from pipelines.config import Conf


def with_catalog(conf: Conf, **entries: dict[str, Any]) -> Conf:
    data = conf.to_dict()
    data["catalog"].update(entries)
    return Conf(data, conf.env, conf.files, conf.project_dir)



def variant(conf: Conf, **dotted: Any) -> Conf:
    """``conf`` with keys given by dotted name (``"cache.prefix"``) set to new values."""
    data = conf.to_dict()
    for key, value in dotted.items():
        node = data
        *parents, last = key.split(".")
        for p in parents:
            node = node[p]
        node[last] = value
    return Conf(data, conf.env, conf.files, conf.project_dir)
