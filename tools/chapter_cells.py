"""The two cells every chapter starts with: a Colab badge and a setup cell.

One home for both: `python tools/chapter_cells.py book/NAME.ipynb` writes (or
refreshes) them at the top of a notebook, and tests/test_notebooks.py checks
every chapter against the text produced here.
"""

from __future__ import annotations

import pathlib
import sys

import nbformat

REPOSITORY = "forward-forward-book/ffbook"
BRANCH = "main"
# A badge drawn for this book and inlined as a data URI: it shows in Colab, in
# Jupyter and on the site without any request leaving the page.
BADGE_DATA_URI = (  # noqa: E501
    "data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciIHdpZHRoPSIxMTciIGhlaWdodD0iMjAiIHJvbGU9ImltZyIgYXJpYS1sYWJlbD0iT3BlbiBpbiBDb2xhYiI+PHJlY3Qgd2lkdGg9IjExNyIgaGVpZ2h0PSIyMCIgcng9IjMiIGZpbGw9IiM1NTUiLz48cmVjdCB4PSIyMiIgd2lkdGg9Ijk1IiBoZWlnaHQ9IjIwIiByeD0iMyIgZmlsbD0iI2U4NzEwYSIvPjxyZWN0IHg9IjIyIiB3aWR0aD0iNiIgaGVpZ2h0PSIyMCIgZmlsbD0iI2U4NzEwYSIvPjxjaXJjbGUgY3g9IjgiIGN5PSIxMCIgcj0iNC41IiBmaWxsPSJub25lIiBzdHJva2U9IiNmOWFiMDAiIHN0cm9rZS13aWR0aD0iMi4yIi8+PGNpcmNsZSBjeD0iMTUiIGN5PSIxMCIgcj0iNC41IiBmaWxsPSJub25lIiBzdHJva2U9IiNmOWFiMDAiIHN0cm9rZS13aWR0aD0iMi4yIi8+PHRleHQgeD0iNzAiIHk9IjE0IiBmaWxsPSIjZmZmIiBmb250LWZhbWlseT0iVmVyZGFuYSxEZWphVnUgU2FucyxzYW5zLXNlcmlmIiBmb250LXNpemU9IjExIiB0ZXh0LWFuY2hvcj0ibWlkZGxlIj5PcGVuIGluIENvbGFiPC90ZXh0Pjwvc3ZnPg=="
)


def colab_url(notebook_name: str) -> str:
    return f"https://colab.research.google.com/github/{REPOSITORY}/blob/{BRANCH}/book/{notebook_name}"


def badge_source(notebook_name: str) -> str:
    link = colab_url(notebook_name)
    return f'<a href="{link}" target="_parent"><img src="{BADGE_DATA_URI}" alt="Open In Colab"/></a>'


SETUP_SOURCE = '''# Setup: install ffbook when it is missing (on Colab, say), then report how this page runs.
import importlib
import importlib.util
import os
import subprocess
import sys

if importlib.util.find_spec("ffbook") is None:
    source = os.environ.get("FFBOOK_SOURCE", "git+https://github.com/forward-forward-book/ffbook")
    # Colab already ships numpy, torch, TensorFlow and Keras: install ffbook alone there.
    no_deps = ["--no-deps"] if "google.colab" in sys.modules else []
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", *no_deps, f"ffbook @ {source}"])
    importlib.invalidate_caches()

import ffbook

ffbook.setup_notebook()'''


def apply(path: pathlib.Path) -> None:
    """Insert the badge and setup cells at the top of a notebook, replacing old ones."""
    nb = nbformat.read(path, as_version=4)
    cells = list(nb.cells)
    if cells and "colab.research.google.com" in cells[0].source:
        cells = cells[1:]
    setup = nbformat.v4.new_code_cell(SETUP_SOURCE)
    if cells and cells[0].cell_type == "code" and cells[0].source.startswith("# Setup: install ffbook"):
        # Keep an executed setup cell's output (the mode and device line) when refreshing it.
        setup.outputs, setup.execution_count = cells[0].outputs, cells[0].execution_count
        cells = cells[1:]
    badge = nbformat.v4.new_markdown_cell(badge_source(path.name))
    nb.cells = [badge, setup, *cells]
    nbformat.write(nb, path)


if __name__ == "__main__":
    for name in sys.argv[1:]:
        apply(pathlib.Path(name))
        print(f"updated {name}")
