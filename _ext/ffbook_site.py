"""Small Sphinx fixes for the book's site.

Jupyter Book 1 always loads sphinx-thebe, whose inline configuration script ended up twice
on every page here (`const THEBE_JS_URL` declared twice: a console error in the browser).
The book launches chapters in Colab, not Thebe, so Thebe's scripts are left out entirely.
"""

from __future__ import annotations


def _skip(*args, **kwargs) -> None:
    return None


def setup(app):
    for name in ("env-before-read-docs", "doctree-resolved"):
        listeners = app.events.listeners.get(name, [])
        for index, listener in enumerate(listeners):
            if getattr(listener.handler, "__module__", "") == "sphinx_thebe":
                listeners[index] = listener._replace(handler=_skip)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
