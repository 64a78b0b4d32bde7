"""spark-submit command lines for the jobs, as a user would type them on any cluster manager.

The rule (docs/deploy.md): spark-submit owns master, connectors and resources; the job owns
its business settings (``spark.settings`` from conf, applied by ``pipelines.session``). So the
line carries the master, the connectors as ``--packages`` (resolved through the same Ivy cache
the local runs use), the Delta extension and catalog (needed before the session exists), the
executors' size, and the project's code as one wheel in ``--py-files``. The driver finds the
project's ``conf/`` and ``expectations/`` through ``PROFILAKE_CONF_DIR``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from pipelines.config import ROOT_ENV, Conf, resolve_location
from pipelines.session import DELTA_CATALOG, DELTA_EXTENSION

JOBS_DIR = "jobs"


@dataclass(frozen=True)
class Submission:
    """One spark-submit run: the command line and the environment it needs."""

    argv: list[str]
    env: dict[str, str]


def spark_submit_binary() -> str:
    """The spark-submit of the pinned pyspark (beside this interpreter), else the PATH's."""
    beside = Path(sys.executable).with_name("spark-submit")
    return str(beside) if beside.exists() else "spark-submit"


def submission(
    conf: Conf,
    *,
    master: str,
    job: str,
    job_args: list[str],
    wheel: Path,
) -> Submission:
    """spark-submit of ``jobs/<job>.py`` with ``job_args`` against ``master``; driver and
    executors run this interpreter, which needs the project's dependencies, not the project:
    its code comes from ``wheel``. Executors are sized by ``spark_cluster`` (the local
    standalone cluster's workers)."""
    script = conf.project_dir / JOBS_DIR / f"{job}.py"
    if not script.is_file():
        raise FileNotFoundError(f"no job script {script}")
    executor = conf.get("spark_cluster")
    argv = [
        spark_submit_binary(),
        "--master", master,
        "--packages", ",".join(str(p) for p in conf.get("spark.packages")),
        "--conf", f"spark.jars.ivy={resolve_location(conf.get('spark.ivy_dir'), conf.project_dir)}",
        "--conf", f"spark.sql.extensions={DELTA_EXTENSION}",
        "--conf", f"spark.sql.catalog.spark_catalog={DELTA_CATALOG}",
        "--conf", f"spark.executor.memory={executor.get('executor_memory')}",
        "--conf", f"spark.executor.cores={executor.get('worker_cores')}",
        "--py-files", str(wheel),
        str(script),
        "--env", conf.env,
        *job_args,
    ]
    interpreter = sys.executable
    env = {
        "PYSPARK_PYTHON": interpreter,
        "PYSPARK_DRIVER_PYTHON": interpreter,
        "PROFILAKE_CONF_DIR": str(Path(conf.files[0]).parent),
        ROOT_ENV: conf.path("paths.root"),
    }
    return Submission(argv=argv, env=env)


def run_env(sub: Submission) -> dict[str, str]:
    """This process's environment plus the submission's, without a driver's gateway settings
    (a job started from inside a Spark driver must launch its own JVM)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYSPARK_GATEWAY")}
    env.update(sub.env)
    return env
