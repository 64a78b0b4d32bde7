"""Issue 13's storage faults under the batch ingest (long suite: three ingests, two of them in
fresh JVMs): the lakehouse's disk fills up, or its file system turns read-only, while
``profilake-ingest`` writes; the job must exit 1 with one line naming the problem, and a rerun
once it is fixed must finish the work — the same events, links and profiles as an ingest of
the same files that nothing interrupted. (The stream's full disk is in the crash test.)"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from pipelines.catalog import Catalog
from pipelines.config import PROJECT_DIR, relocated
from pipelines.ingest.flow import run_ingest
from pipelines.ingest.sources import SOURCES
from tests.disk_faults import fill, own_disk, remount

pytestmark = [pytest.mark.integration, pytest.mark.long]
MESSAGES = {
    "full_disk": "ingest failed: the disk holding the lakehouse is full",
    "read_only": "ingest failed: the lakehouse folder is on a read-only file system",
}
# What an uninterrupted ingest and a cut-then-rerun one must agree on (no run times).
COMPARED = {
    "events": ["event_id", "event_type", "event_time", "identifiers"],
    "identity_links": ["id_type", "id_value", "profile_id"],
    "profiles": ["profile_id", "event_count", "orders_count", "net_spend", "identifiers"],
}


def _ingest(root: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "jobs.ingest_batch", "--env", "test", "--root", str(root)],
        cwd=PROJECT_DIR, stdout=subprocess.PIPE, stderr=open(log, "ab"),  # noqa: SIM115
        text=True)


def _cut_after_landing(job: subprocess.Popen, fault) -> list[str]:
    """Apply ``fault`` once the job has landed the files (it is then resolving identities);
    returns the job's stdout lines."""
    lines: list[str] = []
    landed = threading.Event()

    def read() -> None:
        for line in job.stdout:
            lines.append(line)
            if line.strip().startswith("✓ landing"):
                landed.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert landed.wait(600), "".join(lines)
    fault()
    job.wait(600)
    reader.join(10)
    return lines


@pytest.mark.parametrize("fault", ["full_disk", "read_only"])
def test_an_ingest_cut_by_its_storage_fails_clearly_and_a_rerun_finishes(
        spark, base_conf, tmp_path, fault):
    from jobs.generate_data import main as generate

    clean_conf = relocated(base_conf, str(tmp_path / "clean"))
    landing = Path(clean_conf.path("paths.landing"))
    assert generate(["--customers", "150", "--days", "14", "--seed", "5", "--quiet",
                     "--out", str(landing), "--truth", str(tmp_path / "truth")]) == 0
    run_ingest(spark, clean_conf, list(SOURCES), datetime(2026, 9, 1), echo=lambda _m: None)

    root = tmp_path / "cut"
    conf = relocated(base_conf, str(root))
    shutil.copytree(landing, conf.path("paths.landing"))
    lake = Path(conf.path("paths.lakehouse"))
    log = tmp_path / "ingest.log"
    with own_disk(lake) as mounted:
        if not mounted:
            pytest.skip("cannot mount a tmpfs here (not root?)")
        ballast: list[Path] = []
        cut = {"full_disk": lambda: ballast.append(fill(lake)),
               "read_only": lambda: remount(lake, "ro")}[fault]
        job = _ingest(root, log)
        out = _cut_after_landing(job, cut)
        assert job.returncode == 1, "".join(out) + log.read_text(errors="replace")[-3000:]
        said = log.read_text(errors="replace")
        assert MESSAGES[fault] in said, said[-3000:]
        assert "Traceback" not in said, said[-3000:]
        for b in ballast:
            b.unlink()
        if fault == "read_only":
            remount(lake, "rw")
        rerun = subprocess.run(
            [sys.executable, "-m", "jobs.ingest_batch", "--env", "test", "--root", str(root)],
            cwd=PROJECT_DIR, capture_output=True, text=True)
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr[-3000:]
        for table, columns in COMPARED.items():
            # Maps compare as JSON text (EXCEPT cannot compare maps).
            got, want = (spark.read.format("delta").load(Catalog(c).path(table)).select(
                *[F.to_json(x).alias(x) if x == "identifiers" else x for x in columns])
                for c in (conf, clean_conf))
            assert got.count() == want.count() > 0, table
            assert got.exceptAll(want).isEmpty() and want.exceptAll(got).isEmpty(), table
