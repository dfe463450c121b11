"""Give tqdm progress bars in executed notebooks a static text that shows how they ended.

A tqdm bar in Jupyter is an ipywidget (an HBox of a label, a progress bar and a status text).
The notebook stores the widget's *final* state in its metadata, but the output's plain-text
fallback, which the static site shows (it loads no widget JavaScript), is the text the bar had
when it was created: "0%". This script rewrites each such fallback from the stored final state,
so the page shows, for example, ``FF quick: 100%|██████████| 6/6 [02:43<00:00, 27.2s/it]``.

Usage: ``python tools/progress_text.py book/NN_name.ipynb [...]`` (rewrites in place; run it
after executing a chapter). ``tests/test_notebooks.py`` checks that every committed bar agrees.
"""

from __future__ import annotations

import html
import json
import pathlib
import sys

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
BAR_WIDTH = 10


def widget_states(notebook: dict) -> dict:
    """The stored widget models of a notebook, by model id (empty when none were saved)."""
    return notebook.get("metadata", {}).get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})


def _child(states: dict, reference: str) -> dict | None:
    model = states.get(reference.removeprefix("IPY_MODEL_"))
    return model if isinstance(model, dict) else None


def _plain(text: str) -> str:
    # tqdm writes figure spaces (U+2007) into the HTML labels so the widths stay stable
    return html.unescape(text).replace("\u2007", " ")


def progress_text(states: dict, model_id: str) -> str | None:
    """The text of the tqdm bar with widget ``model_id`` in its final state; None if it is no tqdm bar.

    tqdm's notebook bar is ``HBox([HTML(left), FloatProgress(value, max), HTML(right)])``;
    its text form is ``left|bar|right`` with a bar of ``BAR_WIDTH`` cells.
    """
    box = states.get(model_id)
    if not box or box.get("model_name") != "HBoxModel":
        return None
    children = [_child(states, ref) for ref in box.get("state", {}).get("children", [])]
    if len(children) != 3 or any(c is None for c in children):
        return None
    names = [c.get("model_name") for c in children]
    if names != ["HTMLModel", "FloatProgressModel", "HTMLModel"]:
        return None
    left, bar, right = (c.get("state", {}) for c in children)
    value, maximum = float(bar.get("value", 0.0)), float(bar.get("max", 0.0))
    if maximum > 0:
        filled = int(BAR_WIDTH * min(max(value / maximum, 0.0), 1.0))
        cells = "█" * filled + " " * (BAR_WIDTH - filled)
    else:  # a bar of unknown length: tqdm shows no bar, just the counts
        cells = ""
    left_text, right_text = _plain(left.get("value", "")), _plain(right.get("value", ""))
    return f"{left_text}|{cells}|{right_text}" if cells else f"{left_text}{right_text}".strip()


def fix_notebook(notebook: dict) -> int:
    """Rewrite every tqdm bar's text/plain fallback from the stored state; return how many changed."""
    states = widget_states(notebook)
    changed = 0
    for cell in notebook.get("cells", []):
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if WIDGET_VIEW not in data:
                continue
            text = progress_text(states, data[WIDGET_VIEW].get("model_id", ""))
            if text is not None and "".join(data.get("text/plain", "")) != text:
                data["text/plain"] = [text]
                changed += 1
    return changed


def main(paths: list[str]) -> int:
    if not paths:
        print(__doc__.strip().splitlines()[0])
        print("usage: python tools/progress_text.py NOTEBOOK.ipynb [...]")
        return 2
    for name in paths:
        path = pathlib.Path(name)
        notebook = json.loads(path.read_text(encoding="utf-8"))
        changed = fix_notebook(notebook)
        if changed:
            path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"{path}: {changed} progress bar(s) rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
