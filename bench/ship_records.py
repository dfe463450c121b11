"""Copy the CPU runs chapter 9 shows into the package (``ffbook/ff/records/``), so Colab has them too.

``python bench/ship_records.py`` rewrites ``hinton-cpu.json`` (hinton-matlab, 100 epochs, seeds 0-2;
hinton-jitter, 200 epochs, seed 0), ``hinton-gpu.json`` (the complete Hinton-recipe runs of ``make gpu``
on one H200) and ``ablation-10-epochs.json`` (the one-change-at-a-time table) from their full records
under ``bench/runs/``. ``tests/test_ff_records.py`` checks that the shipped
files are exactly what this script makes.
"""

from __future__ import annotations

import json
import pathlib

from ffbook.ff.records import SCHEMA

ROOT = pathlib.Path(__file__).resolve().parents[1]
RUNS = ROOT / "bench" / "runs"
RECORDS = ROOT / "ffbook" / "ff" / "records"
MATLAB = RUNS / "hinton-matlab-2026-12-03"
JITTER = RUNS / "hinton-jitter-2026-12-04"
ABLATION = RUNS / "ablation-2026-12-03"
GPU = RUNS / "gpu-2026-12-04"
_KEEP = ("test_epochs", "test_error", "layer_test_errors", "all_layers_test_error", "readout_test_error")


def _run(preset: str, net: dict, train: dict, results: dict, history: dict, environment: dict) -> dict:
    history = {key: history[key] for key in _KEEP} | {
        "epoch_seconds": history["epoch_seconds"],
        "step": history["step"],
        "eval_set": history["eval_set"],
    }
    return {
        "status": "complete",
        "epochs_done": len(history["epoch_seconds"]),
        "preset": preset,
        "net": net,
        "train": train,
        "results": results,
        "history": history,
        "environment": environment,
    }


def cpu_record() -> dict:
    runs = {}
    for path in sorted(MATLAB.glob("seed[0-9].json")):  # bench/ff_torch.py records, one seed each
        bench = json.loads(path.read_text())
        (run,) = bench["runs"]
        results = {k: v for k, v in run.items() if k not in ("seed", "history")}
        environment = {k: bench[k] for k in ("device", "cpu_count", "torch_threads", "torch", "python", "date_utc")}
        environment["load_average_before"] = bench["load_average_before"]
        environment["load_average_after"] = bench["load_average_after"]
        name = f"{bench['preset']}-seed{run['seed']}"
        train = bench["train"] | {"seed": int(run["seed"])}  # these older bench records kept the preset's seed
        runs[name] = _run(bench["preset"], bench["net"], train, results, run["history"], environment)
    for path in sorted(JITTER.glob("seed*/results.json")):  # command-line records
        cli = json.loads(path.read_text())
        name = f"{cli['preset']}-seed{cli['train']['seed']}"
        runs[name] = _run(cli["preset"], cli["net"], cli["train"], cli["results"], cli["history"], cli["environment"])
    return {
        "schema": SCHEMA,
        "source": "bench/runs/hinton-matlab-2026-12-03 and hinton-jitter-2026-12-04 (bench/ship_records.py)",
        "environment": {"device": "cpu", "device_name": "CPU (2 cores, x86_64)", "cpu_count": 2},
        "runs": runs,
    }


def gpu_record() -> dict:
    full = json.loads((GPU / "gpu-results.json").read_text())
    runs = {}
    for name, run in full["runs"].items():
        if run["status"] == "complete" and run.get("preset", "").startswith("hinton-"):
            results = {k: v for k, v in run["results"].items() if k != "step"}
            runs[name.removesuffix("-graph")] = _run(
                run["preset"], run["net"], run["train"], results, run["history"], full["environment"]
            )
    return {
        "schema": SCHEMA,
        "source": f"bench/runs/{GPU.name}/gpu-results.json: make gpu's complete Hinton-recipe runs (ship_records.py)",
        "environment": full["environment"],
        "runs": runs,
    }


def ablation_record() -> dict:
    return {
        "source": "bench/runs/ablation-2026-12-03 (bench/ff_ablation.py table; bench/ship_records.py)",
        "rows": json.loads((ABLATION / "summary.json").read_text()),
    }


def main() -> None:
    records = {"hinton-cpu.json": cpu_record(), "hinton-gpu.json": gpu_record()}
    for name, record in (records | {"ablation-10-epochs.json": ablation_record()}).items():
        (RECORDS / name).write_text(json.dumps(record, separators=(",", ":")) + "\n")
        print(f"wrote {RECORDS / name}")


if __name__ == "__main__":
    main()
