"""The batch jobs under spark-submit on a real Spark standalone cluster (a master and a worker
on loopback — two in the demo's own conf —, executors in their own JVMs, the code shipped as a
wheel in --py-files) give the same tables as the same jobs run locally (docs/deploy.md,
"Equal")."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest

from jobs.cluster_demo import JOBS, TABLES_BY_JOB, main
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


def _run(conf, jobs: list[str], customers: int, days: int, capsys) -> dict[str, int]:
    """Run the demo; the tables its comparison found equal, with their row counts."""
    code = main(["--env", "test", "--root", conf.path("paths.root"), "--customers",
                 str(customers), "--days", str(days), "--jobs", *jobs])
    out = capsys.readouterr().out
    assert code == 0, out
    comparison = out.split("━━ 5.")[1]
    return {m[1]: int(m[2].replace(",", "")) for m in
            re.finditer(r"^\s+(\w+)\s+([\d,]+) rows\s+✓ equal$", comparison, re.M)}


def test_ingest_on_the_cluster_equals_the_local_ingest(spark, cluster_conf, capsys):
    equal = _run(cluster_conf, ["ingest_batch"], customers=60, days=7, capsys=capsys)
    # The job really ran as an application of the standalone master (under the name its
    # session gives itself), not embedded.
    assert "profilake-ingest-batch" in _completed_apps(cluster_conf)
    assert set(equal) == set(TABLES_BY_JOB["ingest_batch"])
    assert equal["events"] > 0 and equal["profiles"] > 0


@pytest.mark.long
def test_ingest_nightly_and_export_on_the_cluster_equal_the_local_run(spark, cluster_conf,
                                                                       capsys):
    equal = _run(cluster_conf, list(JOBS), customers=300, days=90, capsys=capsys)
    apps = _completed_apps(cluster_conf)
    assert {"profilake-ingest-batch", "profilake-nightly", "profilake-export-chatbot"} <= set(apps)
    assert set(equal) == {t for tables in TABLES_BY_JOB.values() for t in tables}
