"""Shared fixtures: one Spark session, the real Kafka broker and Redis, a per-test lakehouse.

Tests run in the ``test`` environment (conf/test.yaml): their own data folder under var/test
and their own ports, so a running demo is never touched.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("PROFILAKE_ENV", "test")
# PySpark turns timestamps into naive local datetimes; pin local time to UTC so expected
# values written in UTC compare equal on any machine.
os.environ["TZ"] = "UTC"
time.tzset()

from pipelines.config import Conf, load_conf, relocated  # noqa: E402


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--skip-slow", action="store_true", help="skip tests marked slow")
    parser.addoption("--run-long", action="store_true", help="also run soak tests marked long")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Slow tests run by default (CI runs them); long soak tests only when asked for.
    skips = {
        "slow": config.getoption("--skip-slow") and pytest.mark.skip(reason="--skip-slow given"),
        "long": not config.getoption("--run-long")
        and pytest.mark.skip(reason="soak test: run with --run-long (make test-long)"),
    }
    for item in items:
        for marker, skip in skips.items():
            if skip and marker in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def base_conf() -> Conf:
    return load_conf("test")


@pytest.fixture()
def conf(base_conf: Conf, tmp_path: Path) -> Conf:
    """The test conf with a fresh lakehouse, landing and checkpoint folder per test."""
    return relocated(base_conf, str(tmp_path / "var"))


@pytest.fixture(scope="session")
def spark(base_conf: Conf):
    from pipelines.session import get_spark

    session = get_spark(base_conf, "profilake-tests")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def kafka_broker(base_conf: Conf) -> Iterator[str]:
    """A real Kafka broker (KRaft) on loopback; started if not running, left as found."""
    from pipelines.services import kafka

    was_running = kafka.status(base_conf)["running"]
    kafka.start(base_conf)
    yield str(base_conf.get("kafka.bootstrap_servers"))
    if not was_running:
        kafka.stop(base_conf)


@pytest.fixture()
def kafka_topic(kafka_broker: str) -> str:
    """A fresh topic per test so tests never read each other's messages."""
    from pipelines.services.kafka import create_topic

    return create_topic(kafka_broker, f"test.{uuid.uuid4().hex[:12]}", partitions=2)


@pytest.fixture(scope="session")
def redis_conf(base_conf: Conf) -> Iterator[Conf]:
    """A real redis-server on loopback; yields the conf that points at it."""
    from pipelines.services import redis_server as rs

    was_running = rs.status(base_conf)["running"]
    rs.start(base_conf)
    yield base_conf
    if not was_running:
        rs.stop(base_conf)
