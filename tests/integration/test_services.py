"""The real local services: Kafka (KRaft), Redis and the MLflow sqlite store."""

from __future__ import annotations

import pytest

from pipelines.services import kafka, redis_server
from pipelines.services.process import port_open

pytestmark = pytest.mark.integration


def test_kafka_is_a_real_broker_on_loopback_with_conf_topics(kafka_broker, base_conf):
    from kafka import KafkaConsumer

    state = kafka.status(base_conf)
    assert state["running"] and state["address"].startswith("127.0.0.1:")
    consumer = KafkaConsumer(bootstrap_servers=kafka_broker)
    try:
        topics = consumer.topics()
        partitions = consumer.partitions_for_topic(base_conf["kafka.topics.events.name"])
    finally:
        consumer.close()
    assert base_conf["kafka.topics.events.name"] in topics
    assert base_conf["kafka.topics.dead_letter.name"] in topics
    assert len(partitions) == base_conf["kafka.topics.events.partitions"]


def test_kafka_start_is_idempotent(kafka_broker, base_conf):
    pid = kafka.status(base_conf)["pid"]
    assert kafka.start(base_conf)["pid"] == pid


def test_redis_is_real_and_start_is_idempotent(redis_conf):
    state = redis_server.status(redis_conf)
    assert state["running"] and state["address"].startswith("127.0.0.1:")
    client = redis_server.client(redis_conf)
    client.set("profilake:test", "1")
    assert client.get("profilake:test") == b"1"
    assert client.info("server")["redis_version"]
    assert redis_server.start(redis_conf)["pid"] == state["pid"]


def test_mlflow_store_logs_and_reads_back_a_run(conf):
    import mlflow

    from pipelines.tracking import configure_mlflow, tracking_uri

    experiment_id = configure_mlflow(conf)
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_param("k", 5)
        mlflow.log_metric("silhouette", 0.42)
    fetched = mlflow.get_run(run.info.run_id)
    assert fetched.data.params == {"k": "5"}
    assert fetched.data.metrics == {"silhouette": 0.42}
    assert tracking_uri(conf).startswith("sqlite:///")
    assert run.info.artifact_uri.startswith("file://" + conf.path("mlflow.artifact_root"))


def test_a_port_taken_by_someone_else_is_reported(base_conf):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert port_open("127.0.0.1", port)
        data = base_conf.to_dict()
        data["kafka"]["broker"]["port"] = port
        data["kafka"]["broker"]["data_dir"] = "/tmp/profilake-no-such-broker"
        from pipelines.config import Conf

        other = Conf(data, base_conf.env, base_conf.files, base_conf.project_dir)
        with pytest.raises(RuntimeError, match=f"port {port} is taken"):
            kafka.start(other)
