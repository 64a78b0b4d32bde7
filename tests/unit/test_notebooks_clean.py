"""Notebooks are committed without outputs: no results, no execution counts (diffs stay
readable and no customer data ends up in git). Strip them with
``jupyter nbconvert --clear-output --inplace notebooks/*.ipynb``."""

from __future__ import annotations

import nbformat
import pytest

from tests.notebooks_support import notebook_paths


def test_there_are_notebooks():
    assert [p.name[:3] for p in notebook_paths()] == ["01_", "02_", "03_", "04_"]


@pytest.mark.parametrize("path", notebook_paths(), ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path):
    book = nbformat.read(path, as_version=4)
    nbformat.validate(book)
    for cell in book.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {cell.id} has outputs"
            assert cell.execution_count is None, f"{path.name} cell {cell.id} was executed"
    source = "\n".join(c.source for c in book.cells if c.cell_type == "code")
    assert "import pipelines" in source or "from pipelines" in source
    assert "/lakehouse" not in source and "var/" not in source  # tables only via the catalog
