"""ffbook: the tested helper package behind the Forward-Forward book.

The top level stays light (standard library only) so that a notebook's setup cell
can import it before any framework is installed. Heavy modules are imported by
the chapters that need them: ``ffbook.data``, ``ffbook.calculus``, ``ffbook.ff``...
"""

from __future__ import annotations

import os
import platform
import random

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "is_quick",
    "pick",
    "default_device",
    "seed_everything",
    "notebook_info",
    "quiet_frameworks",
    "setup_notebook",
    "glue",
]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def is_quick() -> bool:
    """Return True when ``FFBOOK_QUICK`` asks for quick mode (small data, few epochs).

    CI executes every chapter with ``FFBOOK_QUICK=1``; readers get the full
    configuration by default.
    """
    value = os.environ.get("FFBOOK_QUICK", "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"FFBOOK_QUICK must be one of 1/0/true/false/yes/no/on/off, got {value!r}")


def pick(full, quick):
    """Return ``quick`` in quick mode and ``full`` otherwise: ``epochs = pick(60, 2)``."""
    return quick if is_quick() else full


def default_device() -> str:
    """Return ``"cuda"`` when PyTorch sees a GPU, else ``"cpu"`` (also when torch is missing)."""
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy, and (when installed) PyTorch and Keras with one integer.

    ``seed`` is an int (NumPy's included) in [0, 2**63 - 1], as everywhere in ffbook. NumPy's global
    generator and Keras take seeds below 2**32 only, and PyTorch's CPU generator uses only the low 32
    bits of its seed: a larger seed reaches those three as a 32-bit seed derived from it
    (``ffbook._validate.small_seed``, the same every time), so that it does not act as ``seed % 2**32``.
    """
    from ffbook._validate import check_seed, small_seed  # imports NumPy: only when called

    seed = check_seed("seed", seed)
    seed32 = small_seed(seed, 32)
    if "keras" in __import__("sys").modules:
        import keras

        keras.utils.set_random_seed(seed32)  # also seeds Python, NumPy and PyTorch; re-seeded below
    random.seed(seed)
    import numpy as np

    np.random.seed(seed32)  # noqa: NPY002 (code that still draws from NumPy's global generator)
    try:
        import torch

        torch.manual_seed(seed32)
    except ImportError:
        pass


def _device_description() -> str:
    device = default_device()
    if device == "cuda":
        import torch

        return f"cuda ({torch.cuda.get_device_name(0)})"
    return f"cpu ({os.cpu_count()} cores, {platform.machine()})"


def notebook_info() -> dict:
    """How this chapter runs: mode, device, versions."""
    return {
        "mode": "quick" if is_quick() else "full",
        "device": _device_description(),
        "python": platform.python_version(),
        "ffbook": __version__,
    }


def quiet_frameworks() -> None:
    """Keep TensorFlow's C++ start-up lines out of the page (``TF_CPP_MIN_LOG_LEVEL=3``, unless set).

    On a fresh Colab runtime, importing TensorFlow (Keras' default backend) prints its CPU-feature
    and oneDNN notes and, with no GPU, a CUDA probe error (``failed call to cuInit``) to stderr.
    None of it concerns the reader; errors that matter still raise Python exceptions. It must run
    before TensorFlow is first imported (the variable is read once, at import).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def setup_notebook() -> None:
    """Print how this chapter runs: mode, device, versions; and quiet the frameworks' start-up.

    Every chapter calls it in its setup cell, so each executed notebook records
    whether it ran in quick or full mode and on what hardware. It calls
    :func:`quiet_frameworks` first, before any chapter imports TensorFlow.
    """
    quiet_frameworks()
    info = notebook_info()
    print(f"ffbook {__version__} | mode: {info['mode']} | device: {info['device']} | python {info['python']}")


GLUE_PREFIX = "application/papermill.record/"
"""The mime-type prefix under which myst-nb finds a hidden glued value in a cell's outputs."""


def glue(name: str, value: str | int | float) -> str | int | float:
    """Record ``value`` under ``name`` for the page's prose, and return it.

    The book's Markdown writes ``{glue:text}`name``` where a number from a run belongs, so the
    text always says what the outputs show (on a CPU, a GPU or in quick mode). This emits the
    hidden display that myst-nb's ``glue(name, value, display=False)`` emits, without importing
    myst-nb (Colab has none): a text/plain bundle under ``GLUE_PREFIX`` with the ``scrapbook``
    metadata naming it. Format numbers before gluing (``glue("err", f"{e:.2f}%")``) to fix the
    digits the reader sees.
    """
    from ffbook._validate import check_str_or_number  # NumPy: only when a chapter glues

    value = check_str_or_number("value", value)
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"name must be a Python identifier (letters, digits, _), got {name!r}")
    from IPython.display import display

    bundle = {GLUE_PREFIX + "text/plain": repr(value)}
    display(bundle, raw=True, metadata={"scrapbook": {"name": name, "mime_prefix": GLUE_PREFIX}})
    return value
