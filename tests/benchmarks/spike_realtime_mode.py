"""Spike: Spark Real-Time Mode (RTM) versus a plain kafka-python consumer as the hot-lane engine.

What it measures, for each engine, against the local Kafka broker and Redis
(``.venv/bin/profilake-services all start``):

- latency: a producer sends small JSON events (``{"id", "run", "sent_ms", ...}``) at ``--rate``
  events/s for ``--seconds`` to a fresh 4-partition topic; the engine parses each value
  (``from_json`` in Spark) and writes the record to Redis, pushing ``sent_ms,written_ms`` to a
  Redis list in the same round trip. Produce -> written latency = written_ms - sent_ms
  (same host clock), reported as p50 / p99 / max;
- throughput: ``--backlog`` events are produced first, then the engine drains them; events/s =
  events / (last write - first write).

Engines:

- ``spark-rtm``: ``readStream.format("kafka")`` -> ``from_json`` projection -> Python
  ``foreach`` writer (one pipelined SET + RPUSH per record), ``trigger(realTime=...)``, output
  mode update. Real-Time Mode's sink allowlist (Spark 4.2) holds console, memory, Kafka and
  ``foreach`` (``ForeachWriterTable``); ``foreachBatch`` is probed too and expected to be refused;
- ``spark-rtm-kafka-sink``: the same RTM query with the JVM Kafka sink into an output topic; a
  relay consumer stores each record with its Kafka timestamp as the write time, so this times
  RTM without the Python writer (whose rows are pickled in growing batches before Python sees
  them);
- ``kafka-python``: a consumer process polling the topic and writing each poll's records in one
  pipelined Redis round trip.

Run (services up)::

    PYSPARK_PYTHON=.venv/bin/python .venv/bin/python -m tests.benchmarks.spike_realtime_mode \\
        --rate 1000 --seconds 30

RTM runs one long task per Kafka partition, so ``--master`` needs at least ``--partitions``
slots (default ``local[4]``). It prints one JSON document: a list of results (engine, mode,
ran, error, p50/p99/max ms, events/s). Scratch topics stay in the broker; Redis keys are deleted.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import shutil
import statistics
import tempfile
import time
import uuid

import redis
from kafka import KafkaConsumer, KafkaProducer

BOOTSTRAP = "127.0.0.1:9092"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
PREFIX = "spike:rtm"


def new_topic(partitions: int) -> str:
    from pipelines.services.kafka import create_topic

    return create_topic(BOOTSTRAP, f"spike.rtm.{uuid.uuid4().hex[:8]}", partitions=partitions)


def produce(topic: str, run: str, rate: float, count: int) -> None:
    """Send ``count`` events, paced at ``rate``/s (message i due at start + i/rate);
    ``rate <= 0`` sends as fast as the broker acks."""
    producer = KafkaProducer(bootstrap_servers=BOOTSTRAP, linger_ms=1, acks=1)
    start = time.time()
    for i in range(count):
        if rate > 0:
            delay = start + i / rate - time.time()
            if delay > 0:
                time.sleep(delay)
        event = {"id": i, "run": run, "customer": f"c{i % 997}", "amount": i % 100 / 7,
                 "sent_ms": time.time() * 1000}
        producer.send(topic, key=event["customer"].encode(), value=json.dumps(event).encode())
    producer.flush()
    producer.close()


def store(pipe, event: dict, written: float | None = None) -> None:
    """Queue the hot-lane write for one event on a Redis pipeline (the caller executes it)."""
    written = time.time() * 1000 if written is None else written
    pipe.set(f"{PREFIX}:ev:{event['run']}:{event['id']}", json.dumps(event), ex=600)
    pipe.rpush(f"{PREFIX}:lat:{event['run']}", f"{event['sent_ms']:.3f},{written:.3f}")


def wait_written(r: redis.Redis, run: str, expected: int, timeout: float) -> int:
    deadline = time.time() + timeout
    while (n := r.llen(f"{PREFIX}:lat:{run}")) < expected and time.time() < deadline:
        time.sleep(0.2)
    return n


def summarize(r: redis.Redis, run: str, engine: str, mode: str, sent: int) -> dict:
    pairs = [tuple(map(float, p.split(b","))) for p in r.lrange(f"{PREFIX}:lat:{run}", 0, -1)]
    out: dict = {"engine": engine, "mode": mode, "ran": bool(pairs), "error": None,
                 "sent": sent, "written": len(pairs)}
    if not pairs:
        out["error"] = "no record reached Redis"
        return out
    written = [w for _, w in pairs]
    out["events_per_s"] = round(len(pairs) / max((max(written) - min(written)) / 1000, 1e-3))
    if mode == "latency":
        lat = sorted(w - s for s, w in pairs)
        out.update(p50_ms=round(statistics.median(lat), 1),
                   p99_ms=round(lat[min(len(lat) - 1, int(0.99 * len(lat)))], 1),
                   max_ms=round(lat[-1], 1))
    return out


def measure(engine: str, start_engine, stop_engine, check, args, r: redis.Redis) -> list[dict]:
    """Latency: start the engine, wait for a warm-up event to be written (start-up not
    counted), then send at ``--rate``. Throughput: produce the backlog first, then start the
    engine and time the drain from its first write to its last."""
    results = []
    for mode in ("latency", "throughput"):
        topic = new_topic(args.partitions)
        run = f"{mode}-{uuid.uuid4().hex[:6]}"
        if mode == "throughput":
            produce(topic, run, 0, args.backlog)
        handle = start_engine(topic)
        try:
            if mode == "latency":
                warm = f"warm-{uuid.uuid4().hex[:6]}"
                deadline = time.time() + args.startup_timeout
                while wait_written(r, warm, 1, 2) == 0 and time.time() < deadline:
                    check(handle)
                    produce(topic, warm, 0, 1)
                if r.llen(f"{PREFIX}:lat:{warm}") == 0:
                    raise RuntimeError(f"no warm-up event written in {args.startup_timeout}s")
                produce(topic, run, args.rate, args.rate * args.seconds)
            count = args.rate * args.seconds if mode == "latency" else args.backlog
            wait_written(r, run, count, args.drain_timeout)
            results.append(summarize(r, run, engine, mode, count))
        finally:
            stop_engine(handle)
    return results


# ----------------------------------------------------------------------------- kafka-python


def _consume(topic: str, stop, record_time: bool = False) -> None:
    """Poll ``topic`` and write each poll's records in one pipelined round trip; with
    ``record_time`` the write time recorded is the record's Kafka timestamp (the relay that
    times the RTM Kafka sink: when Spark produced the record)."""
    consumer = KafkaConsumer(topic, bootstrap_servers=BOOTSTRAP, group_id=None,
                             auto_offset_reset="earliest", enable_auto_commit=False,
                             fetch_max_wait_ms=100)
    r = redis.Redis(host=REDIS_HOST, port=REDIS_PORT)
    while not stop.is_set():
        batches = consumer.poll(timeout_ms=100, max_records=2000)
        if batches:
            pipe = r.pipeline(transaction=False)
            for records in batches.values():
                for rec in records:
                    store(pipe, json.loads(rec.value), rec.timestamp if record_time else None)
            pipe.execute()
    consumer.close()


def kafka_python_engine():
    def start(topic, record_time=False):
        stop = mp.Event()
        proc = mp.Process(target=_consume, args=(topic, stop, record_time), daemon=True)
        proc.start()
        return proc, stop

    def stop(handle):
        proc, event = handle
        event.set()
        proc.join(10)
        if proc.is_alive():
            proc.terminate()

    def check(handle):
        if not handle[0].is_alive():
            raise RuntimeError("kafka-python consumer exited")

    return start, stop, check


# ----------------------------------------------------------------------------- Spark RTM


class RedisForeachWriter:
    """Python ``foreach`` writer: one pipelined SET + RPUSH round trip per record."""

    def open(self, partition_id, epoch_id):
        self.redis = redis.Redis(host=REDIS_HOST, port=REDIS_PORT)
        return True

    def process(self, row):
        pipe = self.redis.pipeline(transaction=False)
        store(pipe, row.asDict())
        pipe.execute()

    def close(self, error):
        self.redis.close()


def spark_session(master: str):
    from pipelines.config import load_conf, overridden
    from pipelines.session import get_spark

    return get_spark(overridden(load_conf("local"), {"spark.master": master}), "rtm-spike")


def parsed_stream(spark, topic: str):
    from pyspark.sql import functions as F

    schema = "id LONG, run STRING, customer STRING, amount DOUBLE, sent_ms DOUBLE"
    raw = (spark.readStream.format("kafka").option("kafka.bootstrap.servers", BOOTSTRAP)
           .option("subscribe", topic).option("startingOffsets", "earliest").load())
    return raw.select(F.from_json(F.col("value").cast("string"), schema).alias("e")).select("e.*")


def spark_rtm_engine(spark, batch: str, kafka_sink: bool = False):
    """RTM query with the Python foreach writer, or (``kafka_sink``) with the JVM Kafka sink
    writing the projected rows to an output topic that a relay consumer times and stores."""

    def start(topic):
        checkpoint = tempfile.mkdtemp(prefix="rtm-spike-")
        writer = parsed_stream(spark, topic).writeStream.outputMode("update")
        relay = None
        if kafka_sink:
            from pyspark.sql import functions as F

            out = new_topic(1)
            writer = (parsed_stream(spark, topic)
                      .select(F.to_json(F.struct("*")).alias("value")).writeStream
                      .outputMode("update").format("kafka")
                      .option("kafka.bootstrap.servers", BOOTSTRAP).option("topic", out)
                      .option("kafka.linger.ms", "0"))
            relay = kafka_python_engine()[0](out, True)
        else:
            writer = writer.foreach(RedisForeachWriter())
        query = (writer.trigger(realTime=batch).option("checkpointLocation", checkpoint).start())
        return query, checkpoint, relay

    def stop(handle):
        query, checkpoint, relay = handle
        if relay is not None:
            kafka_python_engine()[1](relay)
        error = query.exception()
        query.stop()
        shutil.rmtree(checkpoint, ignore_errors=True)
        if error is not None:
            raise RuntimeError(f"RTM query failed: {error}")

    def check(handle):
        if (error := handle[0].exception()) is not None:
            raise RuntimeError(f"RTM query failed: {error}")

    return start, stop, check


def probe_foreach_batch(spark, batch: str, partitions: int) -> dict:
    """Does RTM accept ``foreachBatch``? Returns the error Spark raises, if any."""
    checkpoint = tempfile.mkdtemp(prefix="rtm-spike-fb-")
    out = {"engine": "spark-rtm-foreachBatch", "mode": "probe", "ran": False, "error": None}
    try:
        query = (parsed_stream(spark, new_topic(partitions)).writeStream.outputMode("update")
                 .foreachBatch(lambda df, _: df.count()).trigger(realTime=batch)
                 .option("checkpointLocation", checkpoint).start())
        query.awaitTermination(20)
        error = query.exception()
        out["ran"] = error is None and query.isActive
        out["error"] = None if error is None else str(error).splitlines()[0]
        query.stop()
    except Exception as exc:  # the probe reports whatever Spark raises
        out["error"] = str(exc).splitlines()[0]
    finally:
        shutil.rmtree(checkpoint, ignore_errors=True)
    return out


# ----------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=1000, help="events/s in the latency run")
    parser.add_argument("--seconds", type=int, default=30, help="length of the latency run")
    parser.add_argument("--backlog", type=int, default=50_000, help="events in the drain run")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--engines", default="kafka-python,spark-rtm,spark-rtm-kafka-sink")
    parser.add_argument("--rtm-batch", default="5 seconds", help="trigger(realTime=...) value")
    parser.add_argument("--master", default="local[4]",
                        help="RTM runs one long task per Kafka partition: slots >= partitions")
    parser.add_argument("--startup-timeout", type=float, default=120)
    parser.add_argument("--drain-timeout", type=float, default=120)
    args = parser.parse_args()

    r = redis.Redis(host=REDIS_HOST, port=REDIS_PORT)
    results: list[dict] = []
    engines = args.engines.split(",")
    try:
        if "kafka-python" in engines:
            results += measure("kafka-python", *kafka_python_engine(), args, r)
        if any(e.startswith("spark-rtm") for e in engines):
            spark = spark_session(args.master)
            info = {"engine": "spark-rtm", "mode": "conf", "spark": spark.version,
                    "master": args.master, "trigger": args.rtm_batch}
            for key in ("minBatchDuration", "allowlistCheck"):
                info[key] = spark.conf.get(f"spark.sql.streaming.realTimeMode.{key}")
            results.append(info)
            results.append(probe_foreach_batch(spark, args.rtm_batch, args.partitions))
            for name, kafka_sink in (("spark-rtm", False), ("spark-rtm-kafka-sink", True)):
                if name not in engines:
                    continue
                try:
                    engine = spark_rtm_engine(spark, args.rtm_batch, kafka_sink)
                    results += measure(name, *engine, args, r)
                except Exception as exc:  # a failed engine is a result, not a crash
                    results.append({"engine": name, "ran": False, "error": str(exc)[:2000]})
            spark.stop()
    finally:
        for key in r.scan_iter(f"{PREFIX}:*", count=1000):
            r.delete(key)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
