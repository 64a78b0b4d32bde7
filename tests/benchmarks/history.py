"""Benchmark history: every `make bench` run appends one line to ``history.jsonl`` and is
compared, figure by figure, with the newest earlier run of the same scale that has the row.

A figure is any number in a result row other than the row's ``name``; booleans and text
(``drained``, ``note``) are carried but not compared. The change is printed as a percentage of
the earlier value with the earlier run's commit and date, so a regression shows the day it
lands; whether a rise is good (events/s) or bad (seconds) is the reader's call, since the
row keys say which it is.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

HISTORY_FILE = "history.jsonl"


def commit(cwd: Path) -> str:
    """The checked-out commit (short), ``+dirty`` when the tree has changes; ``unknown``
    outside a git checkout."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=cwd, text=True,
                              capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=cwd, text=True, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty.strip() else "")


def read(path: Path) -> list[dict[str, Any]]:
    """The runs recorded so far, oldest first; a torn last line (a run killed while writing)
    is skipped."""
    if not path.exists():
        return []
    runs = []
    for line in path.read_text().splitlines():
        try:
            runs.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return runs


def append(path: Path, run: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(run, default=str) + "\n")


def _figures(row: Mapping[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in row.items()
            if k != "name" and isinstance(v, int | float) and not isinstance(v, bool)}


def changes(run: Mapping[str, Any], earlier: Iterable[Mapping[str, Any]]
            ) -> list[dict[str, Any]]:
    """Per figure of ``run``: its value, the newest earlier value of the same row name at the
    same scale, and the change in percent (None when the earlier value is 0)."""
    previous: dict[str, tuple[Mapping[str, Any], dict[str, float]]] = {}
    for old in earlier:
        if old.get("scale") != run.get("scale"):
            continue
        for row in old.get("results", []):
            previous[row["name"]] = (old, _figures(row))  # later runs overwrite earlier ones
    out = []
    for row in run.get("results", []):
        if row["name"] not in previous:
            continue
        old, old_figures = previous[row["name"]]
        for key, value in _figures(row).items():
            if key not in old_figures:
                continue
            before = old_figures[key]
            out.append({
                "name": row["name"], "figure": key, "value": value, "before": before,
                "change_pct": None if before == 0 else round(100 * (value - before) / before, 1),
                "before_commit": old.get("commit"), "before_when": old.get("when"),
            })
    return out


def print_changes(rows: list[dict[str, Any]]) -> None:
    if not rows:
        print("\nno earlier run of this scale to compare with")
        return
    print("\nchange against the previous run of each benchmark:")
    for r in rows:
        pct = "n/a" if r["change_pct"] is None else f"{r['change_pct']:+.1f}%"
        print(f"  {r['name']:<34} {r['figure']:<24} {r['before']:>14,.3f} → {r['value']:>14,.3f}"
              f"  {pct:>8}  (vs {r['before_commit']} {r['before_when']})")
