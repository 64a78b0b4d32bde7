"""Layered configuration: overlay precedence, interpolation, and errors that name key and file."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.catalog import Catalog
from pipelines.config import ConfigError, load_conf

BASE = """
paths:
  root: var
  lakehouse: ${paths.root}/lakehouse
kafka:
  bootstrap_servers: 127.0.0.1:9092
  partitions: 4
spark:
  settings:
    spark.sql.shuffle.partitions: "8"
secret: ${env:PROFILAKE_TEST_SECRET:-none}
"""


def _write(folder: Path, **files: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / f"{name}.yaml").write_text(text)
    return folder


def test_overlay_overrides_base_and_references_resolve(tmp_path):
    d = _write(
        tmp_path,
        base=BASE,
        catalog="profiles:\n  path: gold/profiles\n",
        local="paths:\n  root: /data\nkafka:\n  partitions: 12\n",
    )
    conf = load_conf("local", d)
    assert conf["kafka.partitions"] == 12
    assert conf["kafka.bootstrap_servers"] == "127.0.0.1:9092"
    assert conf["paths.lakehouse"] == "/data/lakehouse"
    assert Catalog(conf).path("profiles") == "/data/lakehouse/gold/profiles"


def test_env_selects_overlay_from_environment_variable(tmp_path, monkeypatch):
    d = _write(tmp_path, base=BASE, local="{}", cluster="kafka:\n  bootstrap_servers: k1:9092\n")
    monkeypatch.setenv("PROFILAKE_ENV", "cluster")
    assert load_conf(None, d)["kafka.bootstrap_servers"] == "k1:9092"
    monkeypatch.delenv("PROFILAKE_ENV")
    assert load_conf(None, d).env == "local"


def test_environment_variables_and_defaults(tmp_path, monkeypatch):
    d = _write(tmp_path, base=BASE, local="{}")
    assert load_conf("local", d)["secret"] == "none"
    monkeypatch.setenv("PROFILAKE_TEST_SECRET", "s3cr3t")
    assert load_conf("local", d)["secret"] == "s3cr3t"


def test_missing_key_names_the_key_and_the_files(tmp_path):
    d = _write(tmp_path, base=BASE, local="{}")
    conf = load_conf("local", d)
    with pytest.raises(ConfigError) as err:
        conf.get("kafka.topics.events")
    assert "kafka.topics" in str(err.value) and "base.yaml" in str(err.value)


def test_mistyped_overlay_key_names_the_key_and_the_file(tmp_path):
    d = _write(tmp_path, base=BASE, local="kafka:\n  bootstrap_server: x:1\n")
    with pytest.raises(ConfigError) as err:
        load_conf("local", d)
    assert "kafka.bootstrap_server" in str(err.value) and "local.yaml" in str(err.value)


def test_overlay_of_the_wrong_kind_is_rejected(tmp_path):
    d = _write(tmp_path, base=BASE, local="kafka:\n  partitions: [1, 2]\n")
    with pytest.raises(ConfigError, match="kafka.partitions.*list.*number"):
        load_conf("local", d)


def test_open_maps_accept_new_entries(tmp_path):
    d = _write(tmp_path, base=BASE, local="spark:\n  settings:\n    spark.foo: bar\n")
    settings = dict(load_conf("local", d).get("spark.settings").items())
    assert settings == {"spark.sql.shuffle.partitions": "8", "spark.foo": "bar"}


def test_unknown_environment_and_table_are_named(tmp_path):
    d = _write(tmp_path, base=BASE, local="{}", catalog="profiles:\n  path: p\n")
    with pytest.raises(ConfigError, match="unknown environment 'prod'"):
        load_conf("prod", d)
    with pytest.raises(ConfigError, match="unknown table 'nope'"):
        Catalog(load_conf("local", d)).path("nope")


@pytest.mark.parametrize("env", ["local", "test", "cluster"])
def test_shipped_environments_load(env, monkeypatch):
    monkeypatch.setenv("PROFILAKE_KAFKA_BOOTSTRAP", "k:9092")
    conf = load_conf(env)
    assert conf.env == env
    for table in Catalog(conf).names():
        assert Catalog(conf).path(table)


def test_cluster_overlay_points_at_object_storage_and_external_services(monkeypatch):
    monkeypatch.delenv("PROFILAKE_KAFKA_BOOTSTRAP", raising=False)
    conf = load_conf("cluster")
    assert conf.path("paths.lakehouse").startswith("s3a://")
    assert "127.0.0.1" not in conf["kafka.bootstrap_servers"]


def test_relocated_moves_every_data_path_and_nothing_else(tmp_path):
    from pipelines.config import relocated

    conf = relocated(load_conf("test"), "/scratch")
    assert conf.path("paths.lakehouse") == "/scratch/lakehouse"
    assert conf.path("paths.landing") == "/scratch/landing"
    assert conf.path("paths.validation") == "/scratch/lakehouse/_validation"
    assert Catalog(conf).path("profiles") == "/scratch/lakehouse/gold/profiles"
    assert conf["kafka.bootstrap_servers"] == load_conf("test")["kafka.bootstrap_servers"]


def test_relocated_moves_everything_derived_from_the_root_but_not_services():
    from pipelines.config import relocated

    base = load_conf("test")
    conf = relocated(base, "/scratch")
    assert conf.path("paths.checkpoints") == "/scratch/checkpoints"
    # Derived from ${paths.root} elsewhere in the file: the MLflow store moves too.
    assert conf["mlflow.tracking_uri"] == "sqlite:////scratch/mlflow/mlflow.db"
    assert conf.path("mlflow.artifact_root") == "/scratch/mlflow/artifacts"
    # The running broker and Redis keep their data where they run.
    assert conf["kafka.broker.data_dir"] == base["kafka.broker.data_dir"]
    assert conf["redis.server.data_dir"] == base["redis.server.data_dir"]


def test_overridden_replaces_dotted_keys_and_refuses_unknown_ones():
    from pipelines.config import overridden

    conf = overridden(load_conf("test"), {"cache.prefix": "t1", "redis.port": 1})
    assert (conf["cache.prefix"], conf["redis.port"]) == ("t1", 1)
    with pytest.raises(ConfigError, match="cache.prefx"):
        overridden(conf, {"cache.prefx": "x"})


def test_flag_values_keep_strings_as_typed_and_read_the_rest_as_yaml():
    from pipelines.config import flag_values

    conf = load_conf("test")
    values = flag_values(conf, ["cache.prefix=0123", "hot.group_id=off", "redis.port=6380",
                                "streaming.chatbot_sync=false", "cache.prefix=a=b"])
    # The later flag wins; "=" after the first belongs to the value.
    assert values == {"cache.prefix": "a=b", "hot.group_id": "off", "redis.port": 6380,
                      "streaming.chatbot_sync": False}
    assert flag_values(conf, ["cache.prefix=0123"]) == {"cache.prefix": "0123"}
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        flag_values(conf, ["redis.port"])
    with pytest.raises(ConfigError, match="cache.prefx"):
        flag_values(conf, ["cache.prefx=x"])


def test_the_hot_lane_names_a_bad_flag_in_one_line(capsys):
    from jobs.hot_lane import main

    assert main(["--env", "test", "--set", "cache.prefx=x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("profilake-hot: ") and "cache.prefx" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
