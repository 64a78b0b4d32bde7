"""Shared fixtures: one Spark session, the real Kafka broker and Redis, a per-test lakehouse.

Tests run in the ``test`` environment (conf/test.yaml): their own data folder under var/test
and their own ports, so a running demo is never touched.

``make test WORKERS=2`` runs them in two pytest-xdist workers (``-n 2 --dist loadfile``: a
file's tests share one worker, so module fixtures are built once; ``--no-loadscope-reorder``
keeps the longest-first file order set below). Each worker has its own Spark session;
the broker and Redis are shared: the first worker that needs one starts it (under a file lock)
and the controller stops, at the end, what was not running when the run began.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

# pytest-xdist workers run as ``python -c``: a __main__ with neither __spec__ nor __file__,
# which pyspark.sql.connect (imported by great_expectations) takes for a doctest run and ends
# with sys.exit(0) when grpc is absent.
_main = sys.modules["__main__"]
if getattr(_main, "__spec__", None) is None and not hasattr(_main, "__file__"):
    _main.__file__ = "<pytest-xdist worker>"

os.environ.setdefault("PROFILAKE_ENV", "test")
# PySpark turns timestamps into naive local datetimes; pin local time to UTC so expected
# values written in UTC compare equal on any machine.
os.environ["TZ"] = "UTC"
time.tzset()

from pipelines.config import PROJECT_DIR, Conf, load_conf, relocated  # noqa: E402


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
    # The longest files first, so under xdist neither worker is left with one at the end.
    items.sort(key=lambda item: _LONGEST_FIRST.get(item.path.name, len(_LONGEST_FIRST)))


# Files by wall time in a CI run, longest first (the rest keep their order after them).
_LONGEST_FIRST = {name: rank for rank, name in enumerate((
    "test_stream_crash.py", "test_nightly_job.py", "test_hot_lane.py", "test_hot_lane_faults.py",
    "test_ingest_job.py", "test_stream.py", "test_export_cache_api.py",
))}


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


def _worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _controller(config: pytest.Config) -> bool:
    return bool(getattr(config.option, "numprocesses", None)) and not _worker(config)


def _services() -> dict:
    from pipelines.services import kafka, redis_server

    return {"kafka": kafka, "redis": redis_server}


# Under xdist: which shared services ran before the run (the controller stops the others).
_BEFORE = pytest.StashKey[dict]()


def pytest_sessionstart(session: pytest.Session) -> None:
    if _controller(session.config):
        conf = load_conf("test")
        session.config.stash[_BEFORE] = {
            name: svc.status(conf)["running"] for name, svc in _services().items()}


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _controller(session.config) and _BEFORE in session.config.stash:
        conf = load_conf("test")
        for name, svc in _services().items():
            if not session.config.stash[_BEFORE][name] and svc.status(conf)["running"]:
                svc.stop(conf)


@contextlib.contextmanager
def _start_lock(conf: Conf) -> Iterator[None]:
    """One starter at a time across xdist workers (a second one then finds it running)."""
    root = PROJECT_DIR / str(conf.get("paths.root"))
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".services.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@contextlib.contextmanager
def _shared_service(request: pytest.FixtureRequest, conf: Conf, name: str) -> Iterator[None]:
    """Started if not running; left as found (under xdist the controller stops it)."""
    svc = _services()[name]
    with _start_lock(conf):
        was_running = svc.status(conf)["running"]
        svc.start(conf)
    yield
    if not was_running and not _worker(request.config):
        svc.stop(conf)


@pytest.fixture(scope="session")
def kafka_broker(request: pytest.FixtureRequest, base_conf: Conf) -> Iterator[str]:
    """A real Kafka broker (KRaft) on loopback."""
    with _shared_service(request, base_conf, "kafka"):
        yield str(base_conf.get("kafka.bootstrap_servers"))


@pytest.fixture()
def kafka_topic(kafka_broker: str) -> str:
    """A fresh topic per test so tests never read each other's messages."""
    from pipelines.services.kafka import create_topic

    return create_topic(kafka_broker, f"test.{uuid.uuid4().hex[:12]}", partitions=2)


@pytest.fixture(scope="session")
def redis_conf(request: pytest.FixtureRequest, base_conf: Conf) -> Iterator[Conf]:
    """A real redis-server on loopback; yields the conf that points at it."""
    with _shared_service(request, base_conf, "redis"):
        yield base_conf
