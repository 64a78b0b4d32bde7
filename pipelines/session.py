"""The one place a SparkSession is built.

Locally the factory sets master, the Delta and Kafka connectors (resolved from Maven Central
into a stable Ivy cache) and settings sized for a small machine. Under ``spark-submit`` the
submitter owns master, packages and resources, so the factory leaves them alone and only adds
what the code relies on (Delta extension and catalog, UTC, shuffle sizing).
"""

from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession

from pipelines.config import Conf, resolve_location

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"


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
    if not under_spark_submit():
        builder = (
            builder.master(str(conf.get("spark.master")))
            .config("spark.jars.packages", ",".join(conf.get("spark.packages")))
            .config("spark.jars.ivy", resolve_location(conf.get("spark.ivy_dir"), conf.project_dir))
            .config("spark.driver.memory", str(conf.get("spark.driver_memory")))
            .config("spark.sql.warehouse.dir", conf.path("paths.lakehouse") + "/_warehouse")
            .config(
                "spark.driver.extraJavaOptions", "-Dderby.system.home=" + conf.path("paths.root")
            )
        )
    for key, value in conf.get("spark.settings").items():
        builder = builder.config(key, str(value))
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark
