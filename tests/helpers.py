"""Helpers for tests: conf variants with extra catalog entries, a free loopback port."""

from __future__ import annotations

import socket
from typing import Any

from pipelines.config import Conf


def with_catalog(conf: Conf, **entries: dict[str, Any]) -> Conf:
    data = conf.to_dict()
    data["catalog"].update(entries)
    return Conf(data, conf.env, conf.files, conf.project_dir)



def free_port() -> int:
    """A loopback port nothing listens on (the OS's pick, released at once): for a server the
    test starts, or as an address where a connection is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
