"""Helpers for tests: conf variants with extra catalog entries."""

from __future__ import annotations

from typing import Any

from pipelines.config import Conf


def with_catalog(conf: Conf, **entries: dict[str, Any]) -> Conf:
    data = conf.to_dict()
    data["catalog"].update(entries)
    return Conf(data, conf.env, conf.files, conf.project_dir)

