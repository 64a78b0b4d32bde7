"""A Spark standalone cluster on loopback: one master and ``spark_cluster.workers`` workers,
launched from the pinned pyspark distribution (no separate Spark download).

It is the smallest real cluster: jobs reach it with ``spark-submit --master spark://…``, their
executors are separate JVMs started by the workers, and the code reaches those executors only
through ``--py-files`` (docs/deploy.md). Each daemon writes its output to
``spark_cluster.data_dir``/<name>.log; pid files live beside the logs.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from pathlib import Path

from pyspark.find_spark_home import _find_spark_home

from pipelines.config import Conf
from pipelines.services.process import port_open, read_pid, terminate, wait_until

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"


def spark_home() -> Path:
    """The Spark distribution pyspark ships (bin/spark-class, bin/spark-submit, jars/)."""
    return Path(_find_spark_home())


def master_url(conf: Conf) -> str:
    return f"spark://{conf.get('spark_cluster.host')}:{conf.get('spark_cluster.master_port')}"


def _data(conf: Conf) -> Path:
    return Path(conf.path("spark_cluster.data_dir"))


def _workers(conf: Conf) -> int:
    return int(conf.get("spark_cluster.workers"))


def _alive_workers(conf: Conf) -> int:
    """ALIVE workers as the master's own status page reports them (0 if it does not answer,
    or answers with a page that is not its JSON yet: a master starting up can send an empty
    body)."""
    url = (f"http://{conf.get('spark_cluster.host')}:"
           f"{conf.get('spark_cluster.master_webui_port')}/json/")
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            state = json.load(response)
    except (OSError, ValueError):
        return 0
    return int(state.get("aliveworkers", 0))


def status(conf: Conf) -> dict[str, object]:
    data = _data(conf)
    master_pid = read_pid(data / "master.pid")
    worker_pids = [read_pid(data / f"worker-{i}.pid") for i in range(_workers(conf))]
    alive = _alive_workers(conf) if master_pid else 0
    return {
        "service": "spark-cluster",
        "running": bool(master_pid) and alive == _workers(conf),
        "master": master_url(conf),
        "master_pid": master_pid,
        "worker_pids": worker_pids,
        "alive_workers": alive,
        "data_dir": str(data),
    }


def _launch(conf: Conf, name: str, args: list[str]) -> int:
    data = _data(conf)
    data.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("SPARK_HOME", str(spark_home()))
    # Bind to the configured address, not whatever the host name resolves to.
    env["SPARK_LOCAL_IP"] = str(conf.get("spark_cluster.host"))
    # Daemons must not pick up a driver's gateway settings from the calling process.
    env.pop("PYSPARK_GATEWAY_PORT", None)
    env.pop("PYSPARK_GATEWAY_SECRET", None)
    with open(data / f"{name}.log", "ab") as log:
        proc = subprocess.Popen(
            [str(spark_home() / "bin" / "spark-class"), *args],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, cwd=str(data), start_new_session=True,
        )
    (data / f"{name}.pid").write_text(str(proc.pid))
    return proc.pid


def start(conf: Conf) -> dict[str, object]:
    """Start whatever is not running yet and wait until every worker is ALIVE."""
    if status(conf)["running"]:
        return status(conf)
    host = str(conf.get("spark_cluster.host"))
    port = int(conf.get("spark_cluster.master_port"))
    data = _data(conf)
    if not read_pid(data / "master.pid"):
        if port_open(host, port):
            raise RuntimeError(f"{host}:{port} is taken by another process: set "
                               "spark_cluster.master_port to a free port")
        _launch(conf, "master", [MASTER_CLASS, "--host", host, "--port", str(port),
                                 "--webui-port", str(conf.get("spark_cluster.master_webui_port"))])
        wait_until(lambda: port_open(host, port), 60, f"the Spark master on {host}:{port}")
    for i in range(_workers(conf)):
        if read_pid(data / f"worker-{i}.pid"):
            continue
        work = data / f"worker-{i}"
        work.mkdir(parents=True, exist_ok=True)
        _launch(conf, f"worker-{i}", [
            WORKER_CLASS, "--host", host,
            "--cores", str(conf.get("spark_cluster.worker_cores")),
            "--memory", str(conf.get("spark_cluster.worker_memory")),
            "--webui-port", str(int(conf.get("spark_cluster.worker_webui_port")) + i),
            "--work-dir", str(work), master_url(conf),
        ])
    wait_until(lambda: _alive_workers(conf) == _workers(conf), 90,
               f"{_workers(conf)} Spark workers to register with {master_url(conf)}")
    return status(conf)


def stop(conf: Conf) -> dict[str, object]:
    """Workers first (their executors die with them), then the master."""
    data = _data(conf)
    for pid_file in sorted(data.glob("worker-*.pid")) + [data / "master.pid"]:
        pid = read_pid(pid_file)
        if pid:
            terminate(pid)
        pid_file.unlink(missing_ok=True)
    return status(conf)
