"""Debian's ``redis-server`` on loopback, as the profile cache for the read API.

Persistence is off: the cache is rebuilt from the Delta export, never the other way round.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from pipelines.config import Conf
from pipelines.services.process import read_pid, terminate, wait_until


def _data(conf: Conf) -> Path:
    return Path(conf.path("redis.server.data_dir"))


def client(conf: Conf):
    import redis

    return redis.Redis(
        host=conf.get("redis.host"),
        port=int(conf.get("redis.port")),
        db=int(conf.get("redis.db")),
        socket_timeout=2,
    )


def _ping(conf: Conf) -> bool:
    import redis

    try:
        return bool(client(conf).ping())
    except redis.RedisError:
        return False


def status(conf: Conf) -> dict[str, object]:
    pid = read_pid(_data(conf) / "redis.pid")
    return {
        "service": "redis",
        "running": bool(pid) and _ping(conf),
        "pid": pid,
        "address": f"{conf.get('redis.host')}:{conf.get('redis.port')}",
        "data_dir": str(_data(conf)),
    }


def start(conf: Conf) -> dict[str, object]:
    if status(conf)["running"]:
        return status(conf)
    binary = shutil.which("redis-server")
    if not binary:
        raise RuntimeError(
            "redis-server is not installed: run `make setup` (apt-get install redis-server)"
        )
    data = _data(conf)
    data.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            binary,
            "--bind",
            str(conf.get("redis.host")),
            "--port",
            str(conf.get("redis.port")),
            "--dir",
            str(data),
            "--pidfile",
            str(data / "redis.pid"),
            "--logfile",
            str(data / "redis.log"),
            "--daemonize",
            "yes",
            "--save",
            "",
            "--appendonly",
            "no",
            "--maxmemory",
            str(conf.get("redis.server.maxmemory")),
            "--maxmemory-policy",
            # Only keys with a TTL (the hot lane's re-delivery guards) may be evicted: an evicted
            # generation pointer would empty the cache view, an evicted overlay lose updates.
            "volatile-lru",
        ],
        check=True,
    )
    wait_until(lambda: status(conf)["running"], 15, "redis-server to answer PING")
    return status(conf)


def stop(conf: Conf) -> dict[str, object]:
    pid = read_pid(_data(conf) / "redis.pid")
    if pid:
        terminate(pid)
    return status(conf)
