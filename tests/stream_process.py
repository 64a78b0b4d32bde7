"""The streaming job as a real subprocess (``python -m jobs.stream_profiles``), for the tests
that kill it, signal it or run other jobs beside it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.config import PROJECT_DIR
from pipelines.stream.faults import FAULT_AFTER_ENV, FAULT_DIR_ENV
from pipelines.stream.offsets import parse_offsets_file


@dataclass
class StreamProcess:
    """The job as a subprocess in its own process group, its metrics lines collected."""

    proc: subprocess.Popen
    batches: list[dict] = field(default_factory=list)
    started: list[dict] = field(default_factory=list)
    refreshes: list[dict] = field(default_factory=list)  # the probable refresher's reports
    log: Path | None = None

    @classmethod
    def start(cls, root: Path, topic: str, log: Path, fault: str | None = None, *,
              query: str, trigger: str = "2 seconds",
              conf_dir: Path | None = None, conf_env: str = "test") -> StreamProcess:
        env = {**os.environ, "PROFILAKE_ENV": conf_env, "TZ": "UTC",
               FAULT_DIR_ENV: str(root / "fault-markers")}
        if conf_dir is not None:
            env["PROFILAKE_CONF_DIR"] = str(conf_dir)
        env.pop(FAULT_AFTER_ENV, None)
        if fault:
            env[FAULT_AFTER_ENV] = fault
        cmd = [sys.executable, "-m", "jobs.stream_profiles", "--env", conf_env, "--root",
               str(root), "--topic", topic, "--query-name", query, "--trigger", trigger]
        err = open(log, "ab")  # noqa: SIM115 - handed to the child, closed by the OS
        proc = subprocess.Popen(cmd, cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE,
                                stderr=err, start_new_session=True)
        sp = cls(proc, log=log)
        threading.Thread(target=sp._read, daemon=True).start()
        return sp

    def _read(self) -> None:
        for line in self.proc.stdout:
            with contextlib.suppress(ValueError):  # not a JSON line
                row = json.loads(line)
                if "probable_refresh" in row:
                    self.refreshes.append(row["probable_refresh"])
                else:
                    (self.started if "batch_started" in row else self.batches).append(row)

    def wait_for_start(self, timeout: float, batches: int = 1) -> None:
        """Until the job has begun ``batches`` micro-batches (a kill then lands in or after
        the writes of the last one)."""
        deadline = time.monotonic() + timeout
        while len(self.started) < batches:
            if self.proc.poll() is not None:
                raise AssertionError(f"job exited with {self.proc.returncode}; see {self.log}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no batch started within {timeout}s; see {self.log}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL driver and JVM at once, as a machine failure would."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=60)

    def wait_exit(self, timeout: float) -> int:
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            # After an injected exit the JVM notices its parent is gone on its own; make sure.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        return code


def end_offsets(bootstrap: str, topic: str) -> dict[str, int]:
    """The topic's end offsets now, as ``topic:partition`` → offset."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        return {f"{topic}:{tp.partition}": end for tp, end in consumer.end_offsets(parts).items()}
    finally:
        consumer.close()


def reaches(root: Path, query: str, batch_id: int, end: dict[str, int]) -> bool:
    """Does micro-batch ``batch_id`` of ``query`` read up to ``end``? Its end offsets are in
    the query's checkpoint before it runs (pipelines/stream/offsets.py)."""
    planned = root / "checkpoints" / query / "offsets" / str(batch_id)
    covered = parse_offsets_file(planned.read_text(encoding="utf-8").splitlines())
    return all(covered.get(tp, 0) >= offset for tp, offset in end.items())
