"""A storage problem in a job's failure is named in one line (pipelines/storage_errors.py)."""

from __future__ import annotations

import pytest

from pipelines.storage_errors import storage_failure

RESUME = "; fix it and start the job again — it resumes where it stopped"


@pytest.mark.parametrize(("text", "expected"), [
    ("[STREAM_FAILED] Query [id = 1] terminated with exception: Job aborted.\n"
     "Caused by: java.io.IOException: No space left on device\n\tat java.base/…",
     "the disk holding the lakehouse is full" + RESUME),
    ("java.nio.file.FileSystemException: /data/var/lakehouse/gold/profiles/_delta_log/"
     ".00012.json.tmp: Read-only file system",
     "the lakehouse folder is on a read-only file system "
     "(/data/var/lakehouse/gold/profiles/_delta_log/.00012.json.tmp)" + RESUME),
    ("java.nio.file.AccessDeniedException: /srv/lake/silver/events/part-0.parquet",
     "the job may not write the lakehouse folder (permission denied)" + RESUME),
    ("org.apache.hadoop.fs.FSError: java.io.IOException: Disk quota exceeded",
     "the disk quota of the lakehouse folder is used up" + RESUME),
])
def test_storage_problems_are_named(text, expected):
    assert storage_failure(text) == expected


def test_other_failures_are_left_alone():
    assert storage_failure("DELTA_CONCURRENT_APPEND: files were added by a concurrent update") \
        is None
    assert storage_failure("") is None


def test_a_folder_delta_could_not_create_is_diagnosed_on_the_file_system(tmp_path):
    """Delta says only "Cannot create …/_delta_log" (a mkdirs that returned false): the
    reason is read from the file system holding the path's nearest existing parent."""
    from tests.disk_faults import own_disk, remount

    lake = tmp_path / "lake"
    text = (f"org.apache.spark.sql.delta.DeltaIOException: [DELTA_CANNOT_CREATE_LOG_PATH] "
            f"Cannot create file:{lake}/silver/merges/_delta_log\n\tat org.apache…")
    where = f" ({lake}/silver/merges/_delta_log)"
    assert storage_failure(text) == "a folder of the lakehouse could not be created" + where \
        + RESUME
    with own_disk(lake, size_mb=1) as mounted:
        if not mounted:
            pytest.skip("cannot mount a tmpfs here (not root?)")
        remount(lake, "ro")
        assert storage_failure(text) == \
            "the lakehouse folder is on a read-only file system" + where + RESUME
        hadoop = f"java.io.IOException: Mkdirs failed to create {lake}/bronze/x (exists=false)"
        assert storage_failure(hadoop).startswith("the lakehouse folder is on a read-only")
