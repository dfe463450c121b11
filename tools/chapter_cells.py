"""The fixed frame of every chapter: title, Colab badge and lead, setup cell, provenance note.

One home for all of it: `python tools/chapter_cells.py book/NAME.ipynb` rewrites a notebook
into this order, and tests/test_notebooks.py checks every chapter against it:

1. the head cell (markdown): the `# Title` line, the Colab badge, and a lead of one or two
   sentences saying what the chapter builds. Anything after the lead's first paragraph moves
   to a markdown cell of its own after the setup cell;
2. the setup cell (the first code cell, which Colab needs), tagged `hide-input` so the site
   shows only its output line;
3. ... the chapter ...;
4. last, the provenance note: a collapsible `<details>` block (mode, device, library versions,
   date, run time of the committed outputs). A `**Provenance.**` paragraph found anywhere in
   the notebook is wrapped and moved there.

It also moves nbval's comment markers into cell tags, where readers do not see them: a code
line `# NBVAL_CHECK_OUTPUT` is removed and the cell is tagged `nbval-check-output` (likewise
`NBVAL_IGNORE_OUTPUT`, `NBVAL_SKIP` and `NBVAL_RAISES_EXCEPTION`). nbval reads the tags.
"""

from __future__ import annotations

import pathlib
import re
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


SETUP_TAGS = ["hide-input"]
PROVENANCE_SUMMARY = "<summary>Provenance</summary>"
SETUP_MARKER = "# Setup: install ffbook"


# nbval's comment markers and the cell tags that mean the same to it (nbval.plugin.metadata_tags).
NBVAL_MARKERS = ("NBVAL_CHECK_OUTPUT", "NBVAL_IGNORE_OUTPUT", "NBVAL_SKIP", "NBVAL_RAISES_EXCEPTION")


def nbval_tag(marker: str) -> str:
    return marker.lower().replace("_", "-")


def markers_to_tags(cell) -> None:
    """Replace `# NBVAL_...` comment lines of a code cell by the equivalent cell tags."""
    if cell.cell_type != "code":
        return
    lines = cell.source.split("\n")
    markers = [line.strip().lstrip("#").strip() for line in lines if line.strip().startswith("#")]
    found = [m for m in markers if m in NBVAL_MARKERS]
    if not found:
        return
    cell.source = "\n".join(
        line for line in lines if not (line.strip().startswith("#") and line.strip().lstrip("#").strip() in found)
    )
    tags = list(cell.metadata.get("tags", []))
    cell.metadata["tags"] = tags + [nbval_tag(m) for m in found if nbval_tag(m) not in tags]


def provenance_note(text: str) -> str:
    """Wrap a provenance paragraph in a collapsible block (Jupyter, Colab and the site all fold it)."""
    text = text.strip()
    if text.startswith("<details>"):
        return text
    text = text.removeprefix("**Provenance.**").strip()
    return f"<details>\n{PROVENANCE_SUMMARY}\n\n{text}\n\n</details>"


def is_provenance(cell) -> bool:
    text = cell.source.lstrip()
    return cell.cell_type == "markdown" and (text.startswith("**Provenance.**") or PROVENANCE_SUMMARY in text)


def split_head(source: str, badge: str) -> tuple[str, str]:
    """The head cell (title, badge, first paragraph of the lead) and whatever prose followed it."""
    lines = source.strip().splitlines()
    title = lines[0]
    blocks = [b.strip() for b in re.split(r"\n\s*\n", "\n".join(lines[1:]).strip()) if b.strip()]
    blocks = [b for b in blocks if "colab.research.google.com" not in b]
    lead, rest = (blocks[0], blocks[1:]) if blocks else ("", [])
    head = "\n\n".join(part for part in (title, badge, lead) if part)
    return head, "\n\n".join(rest)


def apply(path: pathlib.Path) -> None:
    """Put a notebook's frame in order: head cell, setup cell, chapter, provenance note.

    Existing cells are edited in place (their ids and the setup cell's output are kept), so
    running this again on a finished chapter changes nothing.
    """
    nb = nbformat.read(path, as_version=4)
    cells = list(nb.cells)
    badge_cell = next((c for c in cells if c.cell_type == "markdown" and c.source.strip().startswith("<a href=")
                       and "colab.research.google.com" in c.source), None)
    title_cell = next(c for c in cells if c.cell_type == "markdown" and c.source.lstrip().startswith("# "))
    head_source, rest = split_head(title_cell.source, badge_source(path.name))
    # The old badge cell becomes the head and the old title cell keeps the rest of the
    # introduction: the smallest change to a chapter written in the earlier order.
    head = badge_cell or title_cell
    head.source = head_source
    rest_cell = None
    if rest:
        rest_cell = title_cell if head is not title_cell else nbformat.v4.new_markdown_cell()
        rest_cell.source = rest
    cells = [c for c in cells if c is not head and c is not title_cell]
    setup = next((c for c in cells if c.cell_type == "code" and c.source.startswith(SETUP_MARKER)), None)
    setup = setup or nbformat.v4.new_code_cell()
    setup.source = SETUP_SOURCE
    setup.metadata["tags"] = [*SETUP_TAGS, *[t for t in setup.metadata.get("tags", []) if t not in SETUP_TAGS]]
    setup.metadata.setdefault("jupyter", {})["source_hidden"] = True  # folded in JupyterLab too
    notes = [c for c in cells if is_provenance(c)]
    body = [c for c in cells if c is not setup and not is_provenance(c)]
    frame = [head, setup, *([rest_cell] if rest_cell is not None else [])]
    if notes:
        notes[0].source = provenance_note("\n\n".join(c.source for c in notes))
    for cell in body:
        markers_to_tags(cell)
    nb.cells = [*frame, *body, *notes[:1]]
    nbformat.write(nb, path)


if __name__ == "__main__":
    for name in sys.argv[1:]:
        apply(pathlib.Path(name))
        print(f"updated {name}")
