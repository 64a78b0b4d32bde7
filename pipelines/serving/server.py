"""Run the read API in a child process (demo, benchmarks): ``with api_process(conf, key) as api``
(``api.url``, ``api.pid``, ``api.cpu_s()``).

The child is ``python -m jobs.serve_api`` on the given conf (handed over as a resolved JSON
file, so scratch lakehouses work), with the key in PROFILAKE_API_KEYS; it is stopped on exit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from pipelines.config import CONF_JSON_ENV, Conf


@dataclass(frozen=True)
class ApiHandle:
    url: str
    pid: int

    def cpu_s(self) -> float:
        """CPU seconds (user + system) the API process has used so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def api_process(
    conf: Conf, api_key: str, port: int | None = None, timeout_s: float = 60
) -> Iterator[ApiHandle]:
    port = port or int(conf.get("api.port"))
    host = str(conf.get("api.host"))
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(conf.to_dict(), fh)
        dumped = fh.name
    env = {**os.environ, CONF_JSON_ENV: dumped, "PROFILAKE_API_KEYS": api_key}
    env["PROFILAKE_ENV"] = conf.env
    cmd = [sys.executable, "-m", "jobs.serve_api", "--host", host, "--port", str(port)]
    child = subprocess.Popen(cmd, env=env, cwd=str(conf.project_dir))
    url = f"http://{host}:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if child.poll() is not None:
                raise RuntimeError(f"the API exited with {child.returncode} before answering")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"the API did not answer on {url} within {timeout_s:.0f}s")
            time.sleep(0.2)
        yield ApiHandle(url, child.pid)
    finally:
        child.terminate()
        try:
            child.wait(10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        os.unlink(dumped)
