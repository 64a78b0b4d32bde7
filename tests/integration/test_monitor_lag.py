"""The lag check against the real broker: log start and end offsets, a consumer group's
committed offsets (how the hot lane reports its position) and the lag the check derives."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from pipelines.catalog import Catalog
from pipelines.config import overridden
from pipelines.monitoring import kafka_lag
from pipelines.monitoring.params import MonitorParams
from pipelines.monitoring.run import Context, check_stream_lag


def test_hot_lane_lag_from_its_group_offsets(spark, conf, kafka_broker, kafka_topic):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    producer = KafkaProducer(bootstrap_servers=kafka_broker)
    for partition, n in ((0, 5), (1, 3)):
        for i in range(n):
            producer.send(kafka_topic, b"x%d" % i, partition=partition)
    producer.flush()
    producer.close()
    group = f"monitor-test-{uuid.uuid4().hex[:8]}"
    consumer = KafkaConsumer(bootstrap_servers=kafka_broker, group_id=group,
                             enable_auto_commit=False)
    # The lane has read two records of partition 0 and none of partition 1.
    consumer.commit({TopicPartition(kafka_topic, 0): OffsetAndMetadata(2, "", -1)})
    consumer.close()

    start, end = kafka_lag.topic_offsets(kafka_broker, [kafka_topic], 5)
    assert start == {f"{kafka_topic}:0": 0, f"{kafka_topic}:1": 0}
    assert end == {f"{kafka_topic}:0": 5, f"{kafka_topic}:1": 3}
    assert kafka_lag.group_offsets(kafka_broker, group, 5) == {f"{kafka_topic}:0": 2}

    conf = overridden(conf, {"streaming.topics": [kafka_topic], "hot.group_id": group})
    ctx = Context(spark, conf, Catalog(conf), MonitorParams.from_conf(conf),
                  datetime.now(UTC), date.today())
    found = check_stream_lag(ctx)  # the Delta lane never ran here: only the hot lane
    assert {(m.name, tuple(sorted(m.labels.items()))): m.value for m in found.metrics} == {
        ("stream_lag_records", (("lane", "hot_lane"),)): 6,
        ("stream_partition_lag_records", (("lane", "hot_lane"),
                                          ("partition", f"{kafka_topic}:0"))): 3,
        ("stream_partition_lag_records", (("lane", "hot_lane"),
                                          ("partition", f"{kafka_topic}:1"))): 3,
    }
    assert not found.alerts
