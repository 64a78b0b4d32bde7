"""A real single-node Apache Kafka broker in KRaft mode, built from Maven artifacts.

``install`` resolves ``org.apache.kafka:kafka_2.13`` and its dependencies with Maven into a
cache folder shared by every clone; ``start`` formats storage on first use, launches
``kafka.Kafka`` detached, waits until the broker answers and creates the topics from conf.
"""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

from pipelines.config import Conf
from pipelines.services.process import port_open, read_pid, terminate, wait_until

CONF_DIR = Path(__file__).resolve().parents[2] / "conf" / "kafka"


def _dirs(conf: Conf) -> tuple[Path, Path]:
    return Path(conf.path("kafka.broker.libs_dir")) / str(conf.get("kafka.broker.version")), Path(
        conf.path("kafka.broker.data_dir")
    )


def install(conf: Conf) -> Path:
    """Copy the broker's jars into the libs folder, once per Kafka version."""
    libs, _ = _dirs(conf)
    version = conf.get("kafka.broker.version")
    if (libs / f"kafka_2.13-{version}.jar").exists():
        return libs
    libs.mkdir(parents=True, exist_ok=True)
    cmd = [
        "mvn",
        "-q",
        "-B",
        "-f",
        str(CONF_DIR / "pom.xml"),
        "dependency:copy-dependencies",
        f"-Dkafka.version={version}",
        f"-DoutputDirectory={libs}",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(
            f"resolving Kafka {version} with Maven failed:\n{result.stdout}{result.stderr}"
        )
    return libs


def _server_properties(conf: Conf, data: Path) -> str:
    b = conf.get("kafka.broker")
    host, port, cport = b["host"], b["port"], b["controller_port"]
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.bootstrap.servers={host}:{cport}",
            f"listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{cport}",
            f"advertised.listeners=PLAINTEXT://{host}:{port}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "inter.broker.listener.name=PLAINTEXT",
            f"log.dirs={data / 'logs'}",
            "num.partitions=1",
            # Single node: every internal topic has exactly one replica.
            "offsets.topic.replication.factor=1",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=false",
            "log.retention.hours=168",
            "",
        ]
    )


def _java(libs: Path, data: Path, heap: str, main: list[str]) -> list[str]:
    return [
        "java",
        f"-Xms{heap}",
        f"-Xmx{heap}",
        "-XX:+UseG1GC",
        f"-Dlog4j2.configurationFile={CONF_DIR / 'log4j2.properties'}",
        f"-Dkafka.logs.dir={data}",
        "-cp",
        f"{libs}/*",
        *main,
    ]


def status(conf: Conf) -> dict[str, object]:
    _, data = _dirs(conf)
    pid = read_pid(data / "kafka.pid")
    b = conf.get("kafka.broker")
    listening = port_open(b["host"], int(b["port"]))
    return {
        "service": "kafka",
        "running": bool(pid) and listening,
        "pid": pid,
        "address": f"{b['host']}:{b['port']}",
        "data_dir": str(data),
    }


def start(conf: Conf) -> dict[str, object]:
    """Start the broker if it is not running (idempotent) and ensure the topics exist."""
    current = status(conf)
    if not current["running"]:
        b = conf.get("kafka.broker")
        if port_open(b["host"], int(b["port"])):
            raise RuntimeError(f"port {b['port']} is taken by a process this project did not start")
        libs = install(conf)
        _, data = _dirs(conf)
        data.mkdir(parents=True, exist_ok=True)
        props = data / "server.properties"
        props.write_text(_server_properties(conf, data))
        if not (data / "logs" / "meta.properties").exists():
            fmt = _java(
                libs,
                data,
                "256m",
                [
                    "kafka.tools.StorageTool",
                    "format",
                    "--standalone",
                    "-t",
                    _cluster_id(libs),
                    "-c",
                    str(props),
                ],
            )
            subprocess.run(fmt, check=True, capture_output=True, text=True)
        with open(data / "kafka.out", "ab") as out:
            proc = subprocess.Popen(
                _java(libs, data, str(b["heap"]), ["kafka.Kafka", str(props)]),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # survives the shell that started it
            )
        (data / "kafka.pid").write_text(str(proc.pid))
        wait_until(
            lambda: proc.poll() is None and _broker_ready(conf),
            float(b["start_timeout_s"]),
            "the Kafka broker to accept requests",
        )
    create_topics(conf)
    return status(conf)


def _cluster_id(libs: Path) -> str:
    # KRaft cluster ids are base64 UUIDs; StorageTool makes a valid one.
    out = subprocess.run(
        ["java", "-cp", f"{libs}/*", "kafka.tools.StorageTool", "random-uuid"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return out.strip().splitlines()[-1]


def _broker_ready(conf: Conf) -> bool:
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(
            bootstrap_servers=conf.get("kafka.bootstrap_servers"),
            request_timeout_ms=3000,
            client_id="profilake-health",
        )
    except (KafkaError, OSError, ValueError):
        return False
    try:
        admin.list_topics()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        admin.close()


def create_topics(conf: Conf) -> list[str]:
    """Create every topic declared under kafka.topics that does not exist yet."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(
        bootstrap_servers=conf.get("kafka.bootstrap_servers"), client_id="profilake-setup"
    )
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(name=t["name"], num_partitions=int(t["partitions"]), replication_factor=1)
            for t in conf.get("kafka.topics").data.values()
            if t["name"] not in existing
        ]
        if wanted:
            # Another process may create the same topic at the same moment; that is fine.
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(wanted)
            _wait_for_leaders(admin, {t.name: t.num_partitions for t in wanted})
        return [t.name for t in wanted]
    finally:
        admin.close()


def create_topic(bootstrap_servers: str, name: str, partitions: int,
                 timeout_s: float = 30) -> str:
    """Create one topic (a scratch topic for a test, a benchmark or a side run) and wait until
    each of its partitions has a leader; returns its name."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="profilake-setup")
    try:
        admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
        _wait_for_leaders(admin, {name: partitions}, timeout_s)
    finally:
        admin.close()
    return name


def _wait_for_leaders(admin, partitions: dict[str, int], timeout_s: float = 30) -> None:
    """Until every partition of the new topics (name → partition count) has a leader.

    Why wait: a consumer group that subscribes before the broker serves a new topic's
    metadata is assigned no partitions and only sees them at its next metadata refresh
    (minutes), so events sent right after creation would sit unread."""

    def led() -> bool:
        found: dict[str, int] = {}
        for topic in admin.describe_topics(list(partitions)):
            if not topic.get("error_code"):
                found[topic["name"]] = sum(
                    p.get("leader_id", -1) >= 0 for p in topic.get("partitions", []))
        return found == partitions

    wait_until(led, timeout_s, f"leaders of the partitions of {', '.join(partitions)}",
               interval=0.1)


def stop(conf: Conf) -> dict[str, object]:
    _, data = _dirs(conf)
    pid = read_pid(data / "kafka.pid")
    if pid:
        terminate(pid, timeout=30)
    (data / "kafka.pid").unlink(missing_ok=True)
    return status(conf)
