"""The batch jobs under spark-submit on a real Spark standalone cluster (a master and two
workers on loopback, executors in their own JVMs, the code shipped as a wheel in --py-files)
give the same tables as the same jobs run locally (docs/deploy.md, "Equal")."""

from __future__ import annotations

import json
import urllib.request

import pytest

from jobs.cluster_demo import JOBS, main
from pipelines.config import relocated
from pipelines.services import spark_cluster

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture()
def cluster_conf(base_conf, tmp_path):
    conf = relocated(base_conf, str(tmp_path / "var"))
    yield conf
    spark_cluster.stop(conf)


def _completed_apps(conf) -> list[str]:
    url = (f"http://{conf.get('spark_cluster.host')}:"
           f"{conf.get('spark_cluster.master_webui_port')}/json/")
    with urllib.request.urlopen(url, timeout=5) as response:
        return [app["name"] for app in json.load(response)["completedapps"]]


def _run(conf, jobs: list[str], customers: int, days: int, capsys) -> str:
    code = main(["--env", "test", "--root", conf.path("paths.root"), "--customers",
                 str(customers), "--days", str(days), "--jobs", *jobs])
    out = capsys.readouterr().out
    assert code == 0, out
    return out


def test_ingest_on_the_cluster_equals_the_local_ingest(spark, cluster_conf, capsys):
    out = _run(cluster_conf, ["ingest_batch"], customers=60, days=7, capsys=capsys)
    # The job really ran as an application of the standalone master, not embedded.
    assert "profilake-ingest_batch" in _completed_apps(cluster_conf)
    for table in ("events", "quarantine", "identity_links", "identity_merges", "profiles"):
        line = next(x for x in out.splitlines() if x.strip().startswith(table + " "))
        assert "✓ equal" in line, line
    rows = {x.split()[0]: int(x.split()[1].replace(",", "")) for x in out.splitlines()
            if "✓ equal" in x}
    assert rows["events"] > 0 and rows["profiles"] > 0


@pytest.mark.long
def test_ingest_nightly_and_export_on_the_cluster_equal_the_local_run(spark, cluster_conf,
                                                                       capsys):
    out = _run(cluster_conf, list(JOBS), customers=300, days=90, capsys=capsys)
    apps = _completed_apps(cluster_conf)
    assert {f"profilake-{job}" for job in JOBS} <= set(apps)
    assert out.count("✓ equal") == 9, out
