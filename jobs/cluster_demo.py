"""`make cluster-demo`: the batch jobs on a real Spark cluster (standalone, on loopback),
submitted as a user would, and their results checked against a local run of the same jobs.

Steps: build the project as a wheel → start a master and workers (``spark_cluster``) →
generate one batch of source files into two lakehouses (``<root>/cluster-demo/{cluster,local}``)
→ ``spark-submit --master spark://… --py-files profilake.whl`` ingest, nightly and export into
the first, the same CLIs' ``main`` in this process (embedded Spark, the JVM the comparison then
uses) into the second → compare the tables (``pipelines.deploy.compare``). spark-submit's own
output goes to ``paths.logs``. The cluster keeps running afterwards (``profilake-services
spark-cluster stop`` stops it); its web UI is at
``http://<spark_cluster.host>:<spark_cluster.master_webui_port>``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from pipelines.config import Conf, load_conf, relocated
from pipelines.deploy.package import build_wheel
from pipelines.deploy.submit import run_env, submission
from pipelines.services import spark_cluster

# The batch jobs a scheduler runs, in order (jobs/<name>.py), and the tables each writes:
# what the two runs' lakehouses are compared on.
TABLES_BY_JOB = {
    "ingest_batch": ("events", "quarantine", "identity_links", "identity_merges", "profiles"),
    "nightly": ("features", "segments"),
    "export_chatbot": ("chatbot_export", "chatbot_identifiers"),
}
JOBS = tuple(TABLES_BY_JOB)


def _say(text: str) -> None:
    print(text, flush=True)


def job_args(job: str, as_of: str | None) -> list[str]:
    if job == "nightly":
        return ["--as-of", str(as_of)]
    if job == "export_chatbot":
        return ["--skip-cache"]  # the Delta tables are what is compared; Redis is not needed
    return []


def last_event_date(conf: Conf) -> str:
    """The newest event_date in ``events`` (the nightly runs as of the data's last day)."""
    import pyarrow.compute as pc
    from deltalake import DeltaTable

    from pipelines.catalog import Catalog

    dates = DeltaTable(Catalog(conf).path("events")).to_pyarrow_table(columns=["event_date"])
    return str(pc.max(dates["event_date"]).as_py())


def run_logged(argv: list[str], env: dict[str, str], log: Path, what: str) -> float:
    """Run one job; its stdout (the job's own story) is shown, everything goes to ``log``."""
    started = time.perf_counter()
    with open(log, "ab") as out:
        out.write(f"\n=== {what}: {' '.join(argv)}\n".encode())
        out.flush()
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=out)
        assert proc.stdout is not None
        for line in proc.stdout:
            out.write(line)
            _say("      " + line.decode(errors="replace").rstrip())
        code = proc.wait()
    if code != 0:
        raise RuntimeError(f"{what} failed with exit code {code}: see {log}")
    return time.perf_counter() - started


def run_local(conf: Conf, job: str, args: list[str]) -> float:
    """The same job's CLI (``jobs.<job>.main``) in this process, on embedded Spark and
    ``conf``'s lakehouse; returns its seconds. In-process, so the local side and the
    comparison share one JVM instead of starting one per job."""
    import importlib

    from pipelines.config import ROOT_ENV, environ_set

    started = time.perf_counter()
    with environ_set(ROOT_ENV, conf.path("paths.root")):
        importlib.import_module(f"jobs.{job}").main(["--env", conf.env, *args])
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default=None)
    parser.add_argument("--root", help="override paths.root (the demo uses <root>/cluster-demo)")
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--jobs", nargs="*", default=list(JOBS), choices=list(JOBS),
                        help="a prefix of the job sequence (default: all three)")
    args = parser.parse_args(argv)
    if list(args.jobs) != list(JOBS[: len(args.jobs)]):
        parser.error(f"--jobs must be a prefix of {' '.join(JOBS)} (each needs the previous)")
    conf = load_conf(args.env)
    if args.root:
        conf = relocated(conf, args.root)
    base = Path(conf.path("paths.root")) / "cluster-demo"
    sides = {"cluster": relocated(conf, str(base / "cluster")),
             "local": relocated(conf, str(base / "local"))}
    log = Path(conf.path("paths.logs")) / "cluster-demo.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    _say("━━ 1. Build the project as a wheel (what --py-files ships to driver and executors)")
    wheel = build_wheel(conf.project_dir, base / "dist")
    _say(f"   {wheel}")

    _say("━━ 2. Start a Spark standalone cluster on loopback")
    state = spark_cluster.start(conf)
    _say(f"   master {state['master']} · {state['alive_workers']} workers × "
         f"{conf.get('spark_cluster.worker_cores')} core(s) · "
         f"UI http://{conf.get('spark_cluster.host')}:{conf.get('spark_cluster.master_webui_port')}")

    _say(f"━━ 3. Generate one batch ({args.customers:,} customers, {args.days} days) for both runs")
    for side in sides.values():
        shutil.rmtree(side.path("paths.root"), ignore_errors=True)
    from jobs.generate_data import main as generate

    cluster, local = sides["cluster"], sides["local"]
    generate(["--env", conf.env, "--customers", str(args.customers), "--days", str(args.days),
              "--out", cluster.path("paths.landing"), "--truth", cluster.path("paths.ground_truth"),
              "--quiet"])
    shutil.copytree(cluster.path("paths.landing"), local.path("paths.landing"))

    as_of: str | None = None
    for side_name, side in (("cluster", cluster), ("local", local)):
        where = state["master"] if side_name == "cluster" else "embedded Spark"
        _say(f"━━ 4{'ab'[side_name == 'local']}. The jobs on {where} → {side.path('paths.root')}")
        for job in args.jobs:
            if job == "nightly" and as_of is None:
                as_of = last_event_date(side)
            job_argv = job_args(job, as_of)
            _say(f"   ▸ {job} {' '.join(job_argv)}")
            if side_name == "local":
                seconds = run_local(side, job, job_argv)
            else:
                sub = submission(side, master=str(state["master"]), job=job, job_args=job_argv,
                                 wheel=wheel)
                # Unbuffered: the job's progress lines show as they happen, not at its exit.
                env = {**run_env(sub), "PYTHONUNBUFFERED": "1",
                       "SPARK_LOCAL_IP": str(conf.get("spark_cluster.host"))}
                seconds = run_logged(sub.argv, env, log, f"{side_name} {job}")
            _say(f"   ✓ {job} ({seconds:,.0f} s)")

    _say("━━ 5. Compare the two lakehouses (docs/deploy.md: what counts as equal)")
    from pipelines.catalog import Catalog
    from pipelines.deploy.compare import compare_table
    from pipelines.session import get_spark

    spark = get_spark(local, "profilake-cluster-demo-compare")
    tables = [t for job in args.jobs for t in TABLES_BY_JOB[job]]
    unequal = 0
    for table in tables:
        result = compare_table(spark, Catalog(cluster), Catalog(local), table)
        unequal += not result.equal
        mark = "✓ equal" if result.equal else (
            f"✗ {result.only_left} rows only on the cluster, {result.only_right} only locally")
        _say(f"   {table:<20} {result.rows_left:>8,} rows  {mark}")
    _say(f"━━ Done in {time.perf_counter() - started:,.0f} s · spark-submit output in {log}")
    return 1 if unequal else 0


if __name__ == "__main__":
    sys.exit(main())
