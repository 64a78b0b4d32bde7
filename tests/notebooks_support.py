"""Running the notebooks headless: every notebook of ``notebooks/`` in one kernel, in order.

One kernel, not one per notebook: each notebook's Spark session would otherwise start its own
JVM (~15 s on CI's two cores). ``%reset -f`` before each notebook empties the namespace, so a
notebook that used another one's variables still fails; what survives is only imported modules
and the Spark session, which every notebook asks for again through ``get_spark``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from pipelines.config import PROJECT_DIR

NOTEBOOKS = PROJECT_DIR / "notebooks"


def notebook_paths() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def execute_notebooks(
    paths: Iterable[Path], env: Mapping[str, str], cell_timeout_s: int = 300
) -> dict[str, NotebookNode]:
    """Execute the notebooks (by file name, in the given order) in one ``python3`` kernel — the
    venv's ipykernel: jupyter_client starts kernel specs whose argv is ``python`` with the
    running interpreter — with ``env`` added to this process's environment. Raises
    ``nbclient.exceptions.CellExecutionError`` at the first failing cell."""
    from nbclient import NotebookClient

    books = {p.name: nbformat.read(p, as_version=4) for p in paths}
    client = NotebookClient(
        next(iter(books.values())),
        kernel_name="python3",
        timeout=cell_timeout_s,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    with client.setup_kernel(env={**os.environ, **env}):
        for book in books.values():
            client.nb = book
            client.execute_cell(nbformat.v4.new_code_cell("%reset -f"), 0, store_history=False)
            for index, cell in enumerate(book.cells):
                client.execute_cell(cell, index)
    return books


def cell_text(book: NotebookNode, cell_id: str) -> str:
    """Everything the cell with ``cell_id`` printed or displayed, as text (stream output,
    text/plain and text/html of results and displays)."""
    (cell,) = [c for c in book.cells if c.get("id") == cell_id]
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in {"execute_result", "display_data"}:
            parts.extend(str(out.data.get(k, "")) for k in ("text/plain", "text/html"))
    return "\n".join(parts)


def has_image(book: NotebookNode) -> bool:
    return any(
        "image/png" in out.get("data", {})
        for c in book.cells
        for out in c.get("outputs", [])
    )
