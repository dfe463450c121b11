"""Run records: one schema for the command line, the bench scripts, ``make gpu`` and the Keras runs.

A run (``new_record``) holds ``schema``, ``status`` (one of ``STATUSES``), ``preset``, ``net``,
``train`` (the training config, with its ``kind``), ``sizes``, ``environment``, ``history``
(``History.to_dict()``: error *fractions*) and ``results`` (fractions too). A record file holds
``environment`` and its ``runs`` by name; ``load_record`` checks both. Summaries written for people
(``summarise_runs``, bench tables) give percentages under names that end in ``_percent``.
``make gpu`` writes full records under ``bench/runs/``; trimmed copies of its runs ship with the
package (``records/``) so chapters 8 and 9 can show them on any machine.
"""

from __future__ import annotations

import json
import pathlib

__all__ = [
    "SCHEMA",
    "STATUSES",
    "environment",
    "new_record",
    "load_record",
    "load_keras_record",
    "load_ablation",
    "summarise_runs",
    "PAPER_RUN",
    "KERAS_RUN",
    "CPU_RUNS",
    "GPU_RUNS",
    "ABLATION_RUN",
]

SCHEMA = 2
STATUSES = ("running", "interrupted", "failed", "complete", "skipped")

PAPER_RUN = pathlib.Path(__file__).with_name("records") / "hinton-2022-gpu.json"
# The Keras FFNetwork on the full keras.io recipe (bench/ff_keras.py --full, run by make gpu).
KERAS_RUN = pathlib.Path(__file__).with_name("records") / "keras-ffnetwork-gpu.json"
# hinton-matlab (100 epochs, 3 seeds) and hinton-jitter on 2 CPU cores (bench/ship_records.py).
CPU_RUNS = pathlib.Path(__file__).with_name("records") / "hinton-cpu.json"
# make gpu on one H200: hinton-matlab and hinton-jitter (3 seeds each), hinton-2022 (bench/ship_records.py).
GPU_RUNS = pathlib.Path(__file__).with_name("records") / "hinton-gpu.json"
# bench/ff_ablation.py: hinton-matlab with one thing changed, 10 epochs, 3 seeds (bench/ship_records.py).
ABLATION_RUN = pathlib.Path(__file__).with_name("records") / "ablation-10-epochs.json"
_ABLATION_KEYS = {"variant", "change", "seeds", "goodness", "softmax", "all_layers", "each", "epochs"}
_FINAL_KEYS = ("test_error", "layer_test_errors", "all_layers_test_error", "readout_test_error")
# What a Keras run (bench/ff_keras.py --full) adds to the common run: chapter 8 reads these.
_KERAS_TRAIN_KEYS = {"outer_epochs", "inner_steps", "train_size"}
_RUN_KEYS = {"status", "epochs_done", "net", "train", "results", "history"}
_HISTORY_KEYS = {"test_epochs", "test_error", "epoch_seconds"}


def environment(device) -> dict:
    """What a run record says about where it ran: device, library versions, date (and CUDA, driver)."""
    import datetime
    import os
    import platform
    import subprocess

    import numpy
    import torch

    import ffbook

    device = torch.device(device)
    info = {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "numpy": numpy.__version__,
        "ffbook": ffbook.__version__,
        "platform": platform.platform(),
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    if device.type == "cuda":
        try:
            smi = ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"]
            info["driver"] = subprocess.run(smi, capture_output=True, text=True, timeout=20).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            info["driver"] = "unknown"
    return info


def new_record(preset, config, sizes: dict, device) -> dict:
    """A run record at its start (status ``running``): what it trains, how, and where."""
    return {
        "schema": SCHEMA,
        "status": "running",
        "preset": preset.name,
        "net": preset.net.to_dict(),
        "train": config.to_dict(),
        "sizes": dict(sizes),
        "environment": environment(device),
        "history": None,
        "results": None,
    }


def load_record(path: str | pathlib.Path = PAPER_RUN) -> dict:
    """A record file (``environment`` and ``runs`` by name), checked: a clear error names what is wrong."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no run record at {path}")
    record = json.loads(path.read_text())
    for key in ("environment", "runs"):
        if key not in record:
            raise ValueError(f"{path}: not a run record (no {key!r})")
    if record.get("schema") != SCHEMA:
        raise ValueError(f"{path}: record schema {record.get('schema')!r}, this ffbook reads schema {SCHEMA}")
    for name, run in record["runs"].items():
        missing = _RUN_KEYS - set(run)
        if missing:
            raise ValueError(f"{path}: run {name!r} lacks {sorted(missing)}")
        if run["status"] not in STATUSES:
            raise ValueError(f"{path}: run {name!r} has status {run['status']!r}, not one of {STATUSES}")
        missing = _HISTORY_KEYS - set(run["history"])
        if missing:
            raise ValueError(f"{path}: the history of run {name!r} lacks {sorted(missing)}")
        lengths = {len(run["history"][key]) for key in ("test_epochs", "test_error", "layer_test_errors")
                   if key in run["history"]}  # fmt: skip
        if len(lengths) != 1:
            raise ValueError(f"{path}: run {name!r} has test histories of different lengths {sorted(lengths)}")
    return record


def load_keras_record(path: str | pathlib.Path = KERAS_RUN) -> dict:
    """The one run of a Keras record (``bench/ff_keras.py --full --json``), as the flat summary chapter 8
    reads: ``machine``, ``date_utc``, ``dims``, ``train_size``, ``inner_steps``, ``outer_epochs_done``,
    ``epoch_seconds``, ``train_seconds``, ``test_accuracy`` and ``test_error`` (fractions), ``status``."""
    record = load_record(path)
    if len(record["runs"]) != 1:
        raise ValueError(f"{path}: a Keras record holds one run, found {len(record['runs'])}")
    (run,) = record["runs"].values()
    missing = (_KERAS_TRAIN_KEYS - set(run["train"])) | ({"test_error", "train_seconds"} - set(run["results"]))
    if missing:
        raise ValueError(f"{path}: not a Keras run record (lacks {sorted(missing)})")
    if len(run["history"]["epoch_seconds"]) != run["epochs_done"]:
        raise ValueError(f"{path}: {len(run['history']['epoch_seconds'])} epoch times for {run['epochs_done']} epochs")
    environment = record["environment"]
    return {
        "machine": environment["machine"],
        "date_utc": environment["date_utc"],
        "status": run["status"],
        "dims": run["net"]["dims"],
        "train_size": run["train"]["train_size"],
        "inner_steps": run["train"]["inner_steps"],
        "outer_epochs_done": run["epochs_done"],
        "epoch_seconds": run["history"]["epoch_seconds"],
        "train_seconds": run["results"]["train_seconds"],
        "test_error": run["results"]["test_error"],
        "test_accuracy": 1.0 - run["results"]["test_error"],
    }


def summarise_runs(record: dict) -> list[dict]:
    """One row per run: final test errors in % (``*_percent``) by every prediction rule, epochs, seconds,
    step, negatives.

    The final errors are the run's ``results`` (every rule on the test set, at the end) when it has
    them, else the last entry of its history (a run stopped before its end).
    """
    rows = []
    for name, run in record["runs"].items():
        history = run["history"]
        final = run.get("results") or {}
        if "layer_test_errors" not in final:  # a run stopped early: its last evaluation
            final = {key: history[key][-1] for key in _FINAL_KEYS if history.get(key)}
        row = {
            "run": name,
            "status": run["status"],
            "seed": run["train"]["seed"],
            "negatives": run["train"]["negatives"],
            "step": history.get("step", "?"),
            "epochs": run["epochs_done"],
            "seconds": sum(history["epoch_seconds"]),
            "test_error_percent": 100 * final["test_error"],
            "layer_test_errors_percent": [100 * e for e in final["layer_test_errors"]],
            "all_layers_test_error_percent": 100 * final["all_layers_test_error"],
        }
        if final.get("readout_test_error") is not None:
            row["readout_test_error_percent"] = 100 * final["readout_test_error"]
        rows.append(row)
    return rows


def load_ablation(path: str | pathlib.Path = ABLATION_RUN) -> list[dict]:
    """The rows of the one-change-at-a-time table (``bench/ff_ablation.py``), checked; errors in %."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no ablation record at {path}")
    rows = json.loads(path.read_text()).get("rows")
    if not rows or rows[0].get("variant") != "recipe":
        raise ValueError(f"{path}: not an ablation record (its rows must start with the 'recipe' variant)")
    for row in rows:
        missing = _ABLATION_KEYS - set(row)
        if missing:
            raise ValueError(f"{path}: variant {row.get('variant')!r} lacks {sorted(missing)}")
    return rows
