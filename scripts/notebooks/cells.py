"""Cell constructors shared by the notebook builders in this folder.

A builder (`nbNN_*.py`) lays a lesson out as a list of `md(...)` and `code(...)`
cells and writes it with nbformat; `scripts/build_course.py --execute NN` then
runs it and fills in the outputs.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

TIMING = ["nbval-ignore-output", "why:timing"]
"""Tags of a cell whose output depends on the wall clock (nbval skips comparing it)."""


def md(text: str, tags: list[str] | None = None) -> nbformat.NotebookNode:
    """A markdown cell (surrounding blank lines stripped)."""
    cell = new_markdown_cell(text.strip())
    if tags:
        cell.metadata["tags"] = tags
    return cell


def code(text: str, tags: list[str] | None = None) -> nbformat.NotebookNode:
    """A code cell (surrounding blank lines stripped)."""
    cell = new_code_cell(text.strip())
    if tags:
        cell.metadata["tags"] = tags
    return cell


def write_notebook(path: Path, cells: list[nbformat.NotebookNode]) -> None:
    """Write `cells` as a Python 3 notebook (no outputs yet: build_course executes it)."""
    notebook = new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    notebook.metadata["language_info"] = {"name": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)
