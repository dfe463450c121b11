"""Benchmark the Forward-Forward presets of ``ffbook.ff`` (PyTorch): wall-clock and test error over seeds.

Run on whatever device is there; the script records the device, versions, CPU count and the load
average (to show contention on shared machines). Examples::

    python bench/ff_torch.py --preset quick --seeds 0                  # CPU target: >= 97% in <= 3 min
    python bench/ff_torch.py --preset hinton-2022 --seeds 0 1 2        # H100 target: <= 1.36%, <= 60 s
    python bench/ff_torch.py --preset quick --seeds 0 1 2 --negatives hard_readout
    python bench/ff_torch.py --preset keras-io --seeds 0               # H100 target: <= 2.44%, <= 60 s

Each seed trains from scratch on all 60,000 training images; the test error (10,000 images) is
measured once at the end. The time includes the hard-negative scoring that the recipe does
every epoch. (The GPU measurements of the book are all made by ``bench/gpu.py``; see ``make gpu``.)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics

import torch

import ffbook
from ffbook.ff import get_preset, mnist_tensors, train
from ffbook.ff.records import SCHEMA, environment


def _load() -> list[float]:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []


def run_seed(preset, config, device, data, progress: bool, eval_every: int, **how) -> dict:
    """One seed through ``ffbook.ff.train`` (the one training entry point), as a run of a run record
    (``ffbook.ff.records``: status, epochs done, net, config, final test errors as fractions, history)."""
    _, history, results = train(
        preset, config=config, device=device, data=data, progress=progress, eval_every=eval_every, **how
    )
    return {
        "status": "complete",
        "epochs_done": len(history.epoch_seconds),
        "preset": preset.name,
        "net": preset.net.to_dict(),
        "train": config.to_dict(),
        "results": results,
        "history": history.to_dict(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when present)")
    parser.add_argument("--epochs", type=int, default=None, help="override the preset's epochs")
    parser.add_argument("--negatives", default=None, help="override the preset's negatives")
    parser.add_argument("--train-size", type=int, default=None, help="first N training images only")
    parser.add_argument("--step", default=None, help="auto, eager, compile or graph")
    parser.add_argument("--no-tf32", action="store_true", help="full fp32 matmuls on CUDA")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--eval-every", type=int, default=None, help="errors every K epochs (default: last only)")
    parser.add_argument("--out", default=None, help="write the JSON record here (rewritten after every seed)")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args()

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device or ffbook.default_device())
    preset = get_preset(args.preset)
    how = {"tf32": not args.no_tf32}
    if args.step:
        how["step"] = args.step
    changes = {}
    for name in ("epochs", "negatives"):
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    config = preset.train.replace(**changes)
    data = mnist_tensors(args.train_size, None, device)

    load_before = _load()
    runs = []
    for seed in args.seeds:
        run = run_seed(
            preset, config.replace(seed=seed), device, data, args.progress, args.eval_every or config.epochs, **how
        )
        runs.append(run)
        print(json.dumps({"seed": seed, **run["results"]}), flush=True)
        _summarise(args, preset, config, device, data, runs, load_before)


def _summarise(args, preset, config, device, data, runs, load_before) -> None:
    """The run record (``ffbook.ff.records.load_record`` reads it): schema, environment, runs by name,
    then a summary for people, in percentages under names that say so."""
    errors = [100 * r["results"]["test_error"] for r in runs]
    times = [r["results"]["train_seconds"] for r in runs]
    summary = {
        "schema": SCHEMA,
        "environment": {**environment(device), "load_average_before": load_before, "load_average_after": _load()},
        "runs": {f"{preset.name}-seed{r['train']['seed']}": r for r in runs},
        "train_size": runs[0]["results"]["train_size"],
        "test_error_percent_mean": statistics.mean(errors),
        "test_error_percent_spread": [min(errors), max(errors)],
        "test_error_percent_std": statistics.stdev(errors) if len(errors) > 1 else 0.0,
        "train_seconds_mean": statistics.mean(times),
    }
    if all("readout_test_error" in r["results"] for r in runs):
        summary["readout_test_error_percent_mean"] = statistics.mean(
            100 * r["results"]["readout_test_error"] for r in runs
        )
    print(
        f"| {preset.name} | {summary['environment']['device_name']} "
        f"| {len(runs)} seed(s) | {summary['test_error_percent_mean']:.2f}% "
        f"(min {min(errors):.2f}, max {max(errors):.2f}) | {summary['train_seconds_mean']:.1f} s | "
        f"load {load_before} |"
    )
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(summary, handle, indent=2)


if __name__ == "__main__":
    main()
