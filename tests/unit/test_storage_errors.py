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
