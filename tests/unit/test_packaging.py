"""The wheel spark-submit ships (--py-files) is imported as a zip, and zipimport finds only
regular packages: every folder of Python modules needs an ``__init__.py`` (docs/deploy.md)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_folder_of_modules_is_a_regular_package():
    missing = [
        str(folder.relative_to(ROOT))
        for top in ("pipelines", "jobs")
        for folder in [ROOT / top, *(ROOT / top).rglob("*")]
        if folder.is_dir() and "__pycache__" not in folder.parts
        and any(folder.glob("*.py")) and not (folder / "__init__.py").exists()
    ]
    assert missing == []
