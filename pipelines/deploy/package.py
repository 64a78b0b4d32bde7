"""The project as one wheel: what ``--py-files`` ships to a cluster's driver and executors."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# What the wheel is built from; conf/ and expectations/ stay beside the submitting checkout
# (or ship with --files/--archives), so a config change needs no rebuild.
SOURCES = ("pipelines", "jobs", "pyproject.toml", "README.md")


def build_wheel(project_dir: Path, out_dir: Path) -> Path:
    """Build ``profilake-<version>-py3-none-any.whl`` into ``out_dir`` and return its path.

    Built from a copy of the sources, so setuptools' ``build/`` and ``*.egg-info`` never land
    in the checkout and a stale wheel in ``out_dir`` is replaced."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("profilake-*.whl"):
        old.unlink()
    uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    with tempfile.TemporaryDirectory(prefix="profilake-wheel-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        for name in SOURCES:
            origin = project_dir / name
            if origin.is_dir():
                shutil.copytree(origin, src / name,
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                shutil.copy2(origin, src / name)
        done = subprocess.run([uv, "build", "--quiet", "--wheel", "--out-dir", str(out_dir),
                               str(src)], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"building the wheel failed:\n{done.stderr[-4000:]}")
    wheels = sorted(out_dir.glob("profilake-*.whl"))
    if len(wheels) != 1:
        raise RuntimeError(f"expected one wheel in {out_dir}, found {wheels}")
    return wheels[0]
