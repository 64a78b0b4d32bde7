"""Cold Spark session start: JVM launch, connector jars from the Ivy cache, Delta ready."""

from __future__ import annotations

import subprocess
import sys

SNIPPET = """
import time, os
t = time.perf_counter()
from pipelines.config import load_conf
from pipelines.session import get_spark
spark = get_spark(load_conf(os.environ.get("PROFILAKE_ENV")), "bench-start")
spark.range(1).count()
print(time.perf_counter() - t)
"""


def run(ctx) -> list[dict]:
    seconds = []
    for _ in range(2):
        out = subprocess.run(
            [sys.executable, "-c", SNIPPET],
            capture_output=True,
            text=True,
            check=True,
            env={**__import__("os").environ, "PROFILAKE_ENV": ctx.conf.env},
        )
        seconds.append(float(out.stdout.strip().splitlines()[-1]))
    return [
        {
            "name": "spark_session_start",
            "seconds_first": round(seconds[0], 2),
            "seconds_second": round(seconds[1], 2),
        }
    ]
