"""Static checks of the chapters: the conventions in CONTRIBUTING.md, and the setup cell's install path."""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import chapter_cells  # noqa: E402

NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())


def cells(path: pathlib.Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def test_there_are_chapters():
    assert len(NOTEBOOKS) >= 1


def test_toc_lists_exactly_the_chapters():
    listed = {entry["file"] for part in TOC["parts"] for entry in part["chapters"]}
    on_disk = {f"book/{p.stem}" for p in NOTEBOOKS} | {
        f"book/{p.stem}" for p in (ROOT / "book").glob("*.md") if p.stem != "intro"
    }
    assert listed == on_disk
    assert TOC["root"] == "book/intro"
    captions = [part["caption"] for part in TOC["parts"]]
    assert captions[0] == "Foundations of learning"


def test_repository_in_config_matches_the_badges():
    assert CONFIG["repository"]["url"] == f"https://github.com/{chapter_cells.REPOSITORY}"
    assert CONFIG["repository"]["branch"] == chapter_cells.BRANCH
    assert CONFIG["launch_buttons"]["colab_url"] == "https://colab.research.google.com"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_badge_then_setup_then_provenance(path):
    nb_cells = cells(path)
    assert nb_cells[0]["cell_type"] == "markdown"
    assert source(nb_cells[0]) == chapter_cells.badge_source(path.name)
    expected_url = (
        f"https://colab.research.google.com/github/{CONFIG['repository']['url'].removeprefix('https://github.com/')}"
        f"/blob/{CONFIG['repository']['branch']}/book/{path.name}"
    )
    assert expected_url in source(nb_cells[0])
    assert nb_cells[1]["cell_type"] == "code"
    assert source(nb_cells[1]) == chapter_cells.SETUP_SOURCE
    assert any(
        c["cell_type"] == "markdown" and source(c).lstrip().startswith("**Provenance.**") for c in nb_cells[:6]
    ), "a **Provenance.** line within the first cells"
    titles = [c for c in nb_cells[:4] if c["cell_type"] == "markdown" and source(c).lstrip().startswith("# ")]
    assert titles, "a chapter title near the top"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_outputs_are_clean(path):
    places = [str(ROOT.parent), os.path.expanduser("~"), "/tmp/"]
    machine_path = re.compile("|".join(re.escape(p.rstrip("/") + "/") for p in places if len(p) > 1))
    executed = 0
    for index, cell in enumerate(cells(path)):
        if cell["cell_type"] != "code":
            continue
        executed += cell.get("execution_count") is not None
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error", f"cell {index} has an error output"
            assert not machine_path.search(json.dumps(output)), f"cell {index} output shows a machine path"
            if output.get("name") == "stderr":
                assert "Traceback" not in "".join(output["text"]), f"cell {index} printed a traceback"
        if source(cell).startswith("# NBVAL_CHECK_OUTPUT"):
            assert cell.get("outputs"), f"cell {index} is checked by nbval but has no committed output"
    assert executed == sum(c["cell_type"] == "code" for c in cells(path)), "every code cell was executed"
    assert path.stat().st_size < 8_000_000


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_full_mode_outputs_were_committed(path):
    setup_output = "".join(
        "".join(o.get("text", "")) for o in cells(path)[1].get("outputs", []) if o["output_type"] == "stream"
    )
    assert "mode: full" in setup_output, "committed outputs come from the full configuration"


def test_setup_cell_installs_ffbook_when_it_is_missing(tmp_path):
    """Run the setup cell where ffbook is not importable: it must pip-install it from FFBOOK_SOURCE."""
    checkout = tmp_path / "checkout"
    shutil.copytree(ROOT, checkout, ignore=shutil.ignore_patterns(
        ".git", ".venv", "_build", ".cache", "_vendor", "node_modules", "book", "tests", "bench", "*.egg-info"))
    target = tmp_path / "site-packages"
    env = dict(os.environ)
    env.update({
        "FFBOOK_SOURCE": checkout.as_uri(),
        "PIP_TARGET": str(target),  # install beside, not into, the test environment
        "PIP_NO_DEPS": "1",
        "PIP_NO_BUILD_ISOLATION": "0",  # pip's inverted spelling: build in this environment, offline
        "PIP_NO_INDEX": "1",
        "PYTHONPATH": str(target),
    })
    # -S hides site-packages, so `ffbook` is missing exactly as on a fresh Colab runtime.
    result = subprocess.run(
        [sys.executable, "-S", "-c", chapter_cells.SETUP_SOURCE],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (target / "ffbook" / "__init__.py").is_file()
    assert "ffbook 0.1.0 | mode:" in result.stdout


def test_setup_cell_installs_from_the_configured_repository():
    assert f'"git+{CONFIG["repository"]["url"]}"' in chapter_cells.SETUP_SOURCE


import progress_text  # noqa: E402


def _tqdm_state(value: float, maximum: float) -> dict:
    html_model = lambda text: {"model_name": "HTMLModel", "state": {"value": text}}
    return {
        "box": {
            "model_name": "HBoxModel",
            "state": {"children": ["IPY_MODEL_left", "IPY_MODEL_bar", "IPY_MODEL_right"]},
        },
        "left": html_model("epochs:\u2007\u200750%"),
        "bar": {"model_name": "FloatProgressModel", "state": {"value": value, "max": maximum}},
        "right": html_model("\u20073/6\u2007[00:01&lt;00:01,\u20072.00it/s]"),
    }


def test_progress_text_rebuilds_the_final_bar_from_widget_state():
    expected = "epochs:  50%|█████     | 3/6 [00:01<00:01, 2.00it/s]"  # as tqdm prints it
    assert progress_text.progress_text(_tqdm_state(3, 6), "box") == expected
    assert progress_text.progress_text(_tqdm_state(6, 6), "box").count("█") == 10
    assert progress_text.progress_text(_tqdm_state(3, 6), "left") is None  # not a progress bar
    notebook = {
        "metadata": {"widgets": {progress_text.WIDGET_STATE: {"state": _tqdm_state(3, 6)}}},
        "cells": [{"cell_type": "code", "outputs": [{"output_type": "display_data", "data": {
            progress_text.WIDGET_VIEW: {"model_id": "box"}, "text/plain": ["epochs:   0%|          | 0/6"]}}]}],
    }
    assert progress_text.fix_notebook(notebook) == 1
    assert notebook["cells"][0]["outputs"][0]["data"]["text/plain"] == [expected]
    assert progress_text.fix_notebook(notebook) == 0


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_progress_bars_show_their_final_state_on_the_static_page(path):
    """The site shows a widget's text fallback: a tqdm bar's must be its final state, not "0%"."""
    notebook = json.loads(path.read_text())
    assert progress_text.fix_notebook(notebook) == 0, f"run: python tools/progress_text.py {path.relative_to(ROOT)}"
