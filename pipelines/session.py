"""The one place a SparkSession is built.

Locally the factory sets master, the Delta and Kafka connectors (resolved from Maven Central
into a stable Ivy cache once, then put on the JVM's class path from the files that resolution
listed) and settings sized for a small machine; the JVM's own output goes to
``paths.logs``/spark.log. Under ``spark-submit`` the submitter owns master, packages,
resources and logs, so the factory leaves them alone and only adds what the code relies on
(Delta extension and catalog, UTC, shuffle sizing).
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

from pyspark import SparkContext
from pyspark.sql import SparkSession

from pipelines.config import Conf, environ_set, resolve_location

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"
LAUNCH_ERROR_TAIL = 4000  # characters of the JVM log shown when the launch fails


def under_spark_submit() -> bool:
    """spark-submit starts the JVM first and hands Python its gateway port."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def get_spark(conf: Conf, app_name: str) -> SparkSession:
    """Return the session for ``app_name``, building it from ``conf`` if none is active."""
    # Python workers must run the same interpreter as the driver (the project's venv).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.appName(app_name)
        .config("spark.sql.extensions", DELTA_EXTENSION)
        .config("spark.sql.catalog.spark_catalog", DELTA_CATALOG)
    )
    packages = [str(p) for p in conf.get("spark.packages")]
    ivy_dir = resolve_location(conf.get("spark.ivy_dir"), conf.project_dir)
    local = not under_spark_submit()
    # Only a call that launches the JVM decides its jars and where its output goes.
    launches = local and SparkContext._gateway is None
    resolved = resolved_jars(ivy_dir, packages) if local else None
    if local:
        java_options = f"-Dderby.system.home={conf.path('paths.root')} " + str(
            conf.get("spark.driver_java_options") or ""
        )
        builder = builder.master(str(conf.get("spark.master")))
        if not resolved:
            builder = builder.config("spark.jars.packages", ",".join(packages)).config(
                "spark.jars.ivy", ivy_dir
            )
        builder = (
            builder.config("spark.driver.memory", str(conf.get("spark.driver_memory")))
            .config("spark.sql.warehouse.dir", conf.path("paths.lakehouse") + "/_warehouse")
            .config("spark.driver.extraJavaOptions", java_options)
        )
    for key, value in conf.get("spark.settings").items():
        builder = builder.config(key, str(value))
    if launches:
        with jvm_output_to(jvm_log(conf)), class_path_appended(resolved or []):
            spark = builder.getOrCreate()
    else:
        spark = builder.getOrCreate()  # the JVM runs already: its output goes where it went
    spark.sparkContext.setLogLevel("WARN")
    if launches and not resolved:
        remember_jars(ivy_dir, packages, spark.sparkContext.getConf().get("spark.jars", ""))
    return spark


def _resolution_file(ivy_dir: str, packages: list[str]) -> Path:
    digest = hashlib.sha256("\n".join(sorted(packages)).encode()).hexdigest()[:16]
    return Path(ivy_dir) / f"profilake-resolved-{digest}.txt"


def resolved_jars(ivy_dir: str, packages: list[str]) -> list[str] | None:
    """The jars an earlier session resolved ``packages`` to, if every one is still in the
    Ivy cache; None otherwise.

    Resolving Maven coordinates costs every JVM start ~5 s (Ivy checks each of the
    connectors' dependencies) and prints a page of resolution output; the resolved files
    never change for pinned versions, so later sessions load them directly."""
    listing = _resolution_file(ivy_dir, packages)
    if not listing.is_file():
        return None
    jars = [j for j in listing.read_text().split() if j]
    if not jars or not all(_on_disk(j) for j in jars):
        return None
    return jars


def _on_disk(jar: str) -> bool:
    return Path(_local_path(jar)).is_file()


def _local_path(jar: str) -> str:
    url = urlparse(jar)
    return url.path if url.scheme == "file" else jar


def remember_jars(ivy_dir: str, packages: list[str], jars: str) -> None:
    """Record what ``packages`` resolved to (``spark.jars`` after a resolving start)."""
    files = [j for j in jars.split(",") if j]
    if not files:
        return
    listing = _resolution_file(ivy_dir, packages)
    listing.parent.mkdir(parents=True, exist_ok=True)
    tmp = listing.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text("\n".join(files) + "\n")
    tmp.replace(listing)  # atomic: a concurrent start reads the old listing or the new one


DIST_CLASSPATH = "SPARK_DIST_CLASSPATH"


@contextmanager
def class_path_appended(jars: list[str]) -> Iterator[None]:
    """Put ``jars`` at the end of the class path of a local JVM launched in this block.

    Given as ``spark.jars`` instead, every start copies them (97 MB with the connectors'
    transitive dependencies) into a fresh ``spark-*`` folder under the temp directory, which
    only a clean JVM exit removes: each killed job left its copy behind. Spark's launcher
    appends ``SPARK_DIST_CLASSPATH`` after Spark's own jars, so a class both provide still
    comes from Spark's, as with ``spark.jars``."""
    if not jars:
        yield
        return
    before = os.environ.get(DIST_CLASSPATH)
    files = [_local_path(j) for j in jars]
    with environ_set(DIST_CLASSPATH, os.pathsep.join([before, *files] if before else files)):
        yield


def jvm_log(conf: Conf) -> Path:
    """Where the local Spark JVM writes its own output."""
    return Path(conf.path("paths.logs")) / "spark.log"


@contextmanager
def jvm_output_to(log_file: Path) -> Iterator[None]:
    """Point this process's stdout and stderr at ``log_file`` while the JVM is launched.

    The JVM inherits them and keeps them for its whole life, so Ivy's resolution report and
    the JVM's and Spark's warnings land in the file; Python's own output, and errors raised
    into Python (a failed Spark job's message and Java stack included), stay on the
    terminal. When the launch itself fails, the end of the log is shown with the error."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    start = log_file.stat().st_size if log_file.exists() else 0
    saved = (os.dup(1), os.dup(2))
    target = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def restore() -> None:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, target):
            os.close(fd)

    os.dup2(target, 1)
    os.dup2(target, 2)
    try:
        yield
    except BaseException:
        restore()
        with open(log_file, errors="replace") as f:
            f.seek(start)
            said = f.read()[-LAUNCH_ERROR_TAIL:]
        print(f"Spark did not start; the end of {log_file}:\n{said}", file=sys.stderr)
        raise
    restore()
