"""Streaming settings, the root override and the fault hook (no Spark)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.config import ConfigError
from pipelines.conflicts import is_conflict
from pipelines.stream.faults import EXIT_STATUS, FAULT_AFTER_ENV, FAULT_DIR_ENV, Faults
from pipelines.stream.settings import StreamSettings, fold_params, stream_conf


def test_settings_come_from_conf(base_conf):
    s = StreamSettings.from_conf(base_conf)
    assert s.topics == (base_conf.get("kafka.topics.events.name"),)
    assert s.bootstrap_servers == base_conf.get("kafka.bootstrap_servers")
    assert s.checkpoint.endswith(f"/checkpoints/{s.query_name}")
    assert s.parse.rates["EUR"] == 1.0
    assert fold_params(base_conf).cart_events_kept == base_conf.get("profiles.cart_events_kept")


def test_overrides_replace_only_what_is_given(base_conf):
    s = StreamSettings.from_conf(base_conf)
    o = s.with_overrides(topics=("t1",), query_name="q2", trigger_interval=None)
    assert (o.topics, o.query_name, o.trigger_interval) == (("t1",), "q2", s.trigger_interval)
    assert o.checkpoint.endswith("/checkpoints/q2")


def test_a_query_name_with_a_slash_is_refused(base_conf):
    with pytest.raises(ConfigError):
        StreamSettings.from_conf(base_conf).with_overrides(query_name="a/b")


def test_stream_conf_adds_the_streaming_spark_settings(base_conf):
    settings = stream_conf(base_conf).get("spark.settings").to_dict()
    assert settings["spark.sql.codegen.cache.maxEntries"] == "4000"
    assert "spark.sql.codegen.cache.maxEntries" not in base_conf.get("spark.settings").to_dict()


def test_conflicts_are_recognised_by_name():
    class ConcurrentAppendException(Exception):
        pass

    assert is_conflict(ConcurrentAppendException("files were added"))
    assert is_conflict(RuntimeError("[DELTA_CONCURRENT_APPEND] Files were added"))
    assert not is_conflict(RuntimeError("[DELTA_TABLE_NOT_FOUND]"))


def test_a_fault_fires_once_per_marker(tmp_path: Path):
    code = (
        "from pipelines.stream.faults import Faults\n"
        "f = Faults.from_env()\n"
        "f.reached('identity', 3)\n"
        "f.reached('profiles', 3)\n"
        "print('survived')\n"
    )
    env = {FAULT_AFTER_ENV: "profiles", FAULT_DIR_ENV: str(tmp_path),
           "PATH": "/usr/bin:/bin"}
    first = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                           text=True, cwd=Path(__file__).resolve().parents[2])
    assert first.returncode == EXIT_STATUS and "survived" not in first.stdout
    assert (tmp_path / "profiles").read_text() == "batch 3\n"
    second = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, cwd=Path(__file__).resolve().parents[2])
    assert second.returncode == 0 and "survived" in second.stdout


def test_without_the_variables_nothing_fires():
    Faults().reached("profiles", 0)  # returns: no marker dir, no steps
