"""What a reader sees on a fresh runtime: the setup line, then the data's own lines, nothing else.

Each check runs a fresh Python process (as a fresh kernel would) and reads everything it writes
to its stdout and stderr file descriptors, so C++ log lines from TensorFlow are caught too.
tools/colab_ci.sh runs this file on Colab's versions as well (TensorFlow 2.20 with its CUDA probe).
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import ffbook


def fresh_env(tmp_path: pathlib.Path) -> dict:
    """The environment of a fresh runtime: an empty home, no caches, no log settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FFBOOK_", "TF_", "KERAS_", "XDG_"))}
    home = tmp_path / "home"
    home.mkdir()
    env.update(HOME=str(home), MPLCONFIGDIR=str(tmp_path / "mpl"))  # Python's default warning filters, as a kernel
    return env


def run_fresh(code: str, tmp_path: pathlib.Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=fresh_env(tmp_path), cwd=tmp_path,
        capture_output=True, text=True, timeout=300,
    )


# TensorFlow 2.21 logs its oneDNN notice through absl before absl is set up, whatever
# TF_CPP_MIN_LOG_LEVEL says (no setting silences it); 2.20 (Colab's) and earlier honour the level.
TF_221_NOTICE = ("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
                 "port.cc:153] oneDNN custom operations are on.")


def test_setup_notebook_then_tensorflow_prints_only_the_setup_line(tmp_path):
    pytest.importorskip("tensorflow")
    run = run_fresh(
        """
        import os
        import ffbook
        ffbook.setup_notebook()
        os.environ["KERAS_BACKEND"] = "tensorflow"
        import keras
        import tensorflow as tf
        keras.ops.add(keras.ops.ones(3), 1.0).numpy()  # TensorFlow starts and looks for a GPU
        print(tf.__version__)
        """,
        tmp_path,
    )
    assert run.returncode == 0, run.stderr
    setup_line, tf_version = run.stdout.splitlines()
    assert setup_line.startswith(f"ffbook {ffbook.__version__} | mode: full")
    stderr = run.stderr.splitlines()
    if tuple(int(part) for part in tf_version.split(".")[:2]) >= (2, 21):
        stderr = [line for line in stderr if not any(notice in line for notice in TF_221_NOTICE)]
    assert stderr == []  # no CPU-feature notes, no CUDA probe errors


def test_quiet_frameworks_respects_a_level_already_chosen(monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "1")
    ffbook.quiet_frameworks()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "1"
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL")
    ffbook.quiet_frameworks()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"


def test_first_load_downloads_quietly_and_imports_no_framework(tmp_path):
    """Empty caches, online: the download is the only source; it prints nothing and imports no Keras.

    The "server" is a local file (urllib reads file:// URLs), holding a synthetic data set with
    the reference swapped to match it, so the test is offline and fast.
    """
    rng = np.random.default_rng(0)
    shapes = {"x_train": (12, 28, 28), "y_train": (12,), "x_test": (6, 28, 28), "y_test": (6,)}
    arrays = {key: rng.integers(0, 10 if key.startswith("y") else 256, shape, dtype=np.uint8)
              for key, shape in shapes.items()}
    served = tmp_path / "served.npz"
    np.savez(served, **arrays)
    run = run_fresh(
        f"""
        import hashlib, sys
        import numpy as np
        from ffbook import data
        arrays = dict(np.load({str(served)!r}))
        data.MNIST_REFERENCE = data.MNISTReference(
            shapes={shapes!r},
            train_label_counts=tuple(np.bincount(arrays["y_train"], minlength=10).tolist()),
            test_label_counts=tuple(np.bincount(arrays["y_test"], minlength=10).tolist()),
            train_pixel_sum=int(arrays["x_train"].sum(dtype=np.int64)),
            test_pixel_sum=int(arrays["x_test"].sum(dtype=np.int64)),
            sha256={{k: hashlib.sha256(v.tobytes()).hexdigest() for k, v in arrays.items()}},
        )
        data.MNIST_URL = {served.as_uri()!r}
        (x_train, y_train), _ = data.load_mnist()
        print("training:", x_train.shape)
        print(sorted({{"keras", "tensorflow", "torch"}} & set(sys.modules)))
        """,
        tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    assert run.stdout.splitlines() == ["training: (12, 28, 28)", "[]"]
    home = tmp_path / "home"
    assert (home / ".keras" / "datasets" / "mnist.npz").read_bytes() == served.read_bytes()
    assert (home / ".cache" / "ffbook" / "mnist.npz").is_file()  # verified and cached for next time
    assert [p.name for p in (home / ".keras" / "datasets").iterdir()] == ["mnist.npz"]  # no partial file left


def test_a_failed_download_leaves_no_partial_file(tmp_path, monkeypatch):
    from ffbook import data

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(data, "MNIST_URL", (tmp_path / "missing.npz").as_uri())
    with pytest.raises(OSError):
        data._download()
    assert list((tmp_path / "keras" / "datasets").iterdir()) == []
