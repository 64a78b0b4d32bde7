"""The connectors' resolution is remembered per package list and used only while every jar
it named is still on disk; a local JVM gets those jars on its class path, not copied."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipelines.session import DIST_CLASSPATH, class_path_appended, remember_jars, resolved_jars

PACKAGES = ["io.delta:delta-spark_4.2_2.13:4.4.0", "org.example:other:1.0"]


def _jars(tmp_path, *names):
    paths = []
    for name in names:
        jar = tmp_path / "jars" / name
        jar.parent.mkdir(exist_ok=True)
        jar.write_bytes(b"PK")
        paths.append(f"file://{jar}")
    return paths


def test_nothing_is_remembered_before_a_resolving_start(tmp_path):
    assert resolved_jars(str(tmp_path), PACKAGES) is None


def test_a_remembered_resolution_is_used_for_the_same_packages_in_any_order(tmp_path):
    jars = _jars(tmp_path, "a.jar", "b.jar")
    remember_jars(str(tmp_path), PACKAGES, ",".join(jars))
    assert resolved_jars(str(tmp_path), PACKAGES) == jars
    assert resolved_jars(str(tmp_path), list(reversed(PACKAGES))) == jars


def test_other_packages_or_a_missing_jar_resolve_again(tmp_path):
    jars = _jars(tmp_path, "a.jar", "b.jar")
    remember_jars(str(tmp_path), PACKAGES, ",".join(jars))
    assert resolved_jars(str(tmp_path), [*PACKAGES, "org.example:new:2.0"]) is None
    (tmp_path / "jars" / "b.jar").unlink()
    assert resolved_jars(str(tmp_path), PACKAGES) is None


def test_an_empty_jar_list_is_not_remembered(tmp_path):
    remember_jars(str(tmp_path), PACKAGES, "")
    assert resolved_jars(str(tmp_path), PACKAGES) is None


def test_the_jars_are_appended_for_the_launch_only(tmp_path, monkeypatch):
    jars = _jars(tmp_path, "a.jar", "b.jar")
    monkeypatch.delenv(DIST_CLASSPATH, raising=False)
    with class_path_appended(jars):
        assert os.environ[DIST_CLASSPATH] == f"{tmp_path}/jars/a.jar:{tmp_path}/jars/b.jar"
    assert DIST_CLASSPATH not in os.environ
    # A Hadoop-free Spark build's own entries stay first, and come back afterwards.
    monkeypatch.setenv(DIST_CLASSPATH, "/opt/hadoop/*")
    with class_path_appended(jars[:1]):
        assert os.environ[DIST_CLASSPATH] == f"/opt/hadoop/*:{tmp_path}/jars/a.jar"
    assert os.environ[DIST_CLASSPATH] == "/opt/hadoop/*"


def test_a_local_session_loads_the_connectors_without_copying_them(spark):
    from pyspark import SparkFiles

    conf = spark.sparkContext.getConf()
    if conf.get("spark.jars.packages", None):
        pytest.skip("this JVM resolved the connectors itself (the machine's first start), "
                    "so Spark copied them: the next start loads the listing")
    assert not conf.get("spark.jars", None)
    assert not list(Path(SparkFiles.getRootDirectory()).glob("*.jar"))
    jvm = spark.sparkContext._jvm
    for name in ("io.delta.tables.DeltaTable", "org.apache.spark.sql.kafka010.KafkaSourceProvider",
                 "org.apache.kafka.clients.consumer.KafkaConsumer"):
        jvm.java.lang.Class.forName(name)  # raises when the class is not on the class path
