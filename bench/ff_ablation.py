"""What each ingredient of Hinton's recipe is worth: ``hinton-matlab`` at a fixed budget, one change at a time.

Every variant is Hinton's recipe (``hinton-matlab``) with one thing changed back to what ffbook did
before or what other FF implementations do (``VARIANTS``), trained for the same number of epochs
(the learning-rate schedule scaled to them) and seeds. One run record (``ffbook.ff.records``' schema)
per variant and seed, written when the run ends; a run whose record exists is skipped, so an
interrupted sweep continues where it stopped::

    python bench/ff_ablation.py run --epochs 10 --seeds 0 1 2 --workers 2 --out bench/runs/ablation-2026-12-03
    python bench/ff_ablation.py table --out bench/runs/ablation-2026-12-03   # table.md and ablation.png

``--workers 2`` runs two variants at once with one torch thread each (on 2 cores, more runs per hour
than one run on two threads). The jobs go seed by seed, so a sweep cut short has whole seeds.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import pathlib
import statistics
import time
from collections.abc import Callable

from ffbook.ff import get_preset
from ffbook.ff.presets import Preset

BASE = "hinton-matlab"


def _net(**changes) -> Callable[[Preset], Preset]:
    return lambda p: dataclasses.replace(p, net=dataclasses.replace(p.net, **changes))


def _train(**changes) -> Callable[[Preset], Preset]:
    return lambda p: dataclasses.replace(p, train=p.train.replace(**changes))


# name: (what changes, the change)
VARIANTS: dict[str, tuple[str, Callable[[Preset], Preset]]] = {
    "recipe": ("Hinton's recipe, as ported (hinton-matlab)", lambda p: p),
    "adam": (
        "Adam (1e-3, layers and softmax) instead of smoothed SGD, so no weight cost",
        _train(optimizer="adam", lr=1e-3, readout_lr=1e-3, weight_cost=0.0, readout_weight_cost=0.0),
    ),
    "label-4": ("label pixel 4.0 instead of 1.0", _net(on_value=4.0)),
    "negatives-per-epoch": ("hard negatives drawn once per epoch, not every batch", _train(redraw="epoch")),
    "random-negatives": ("wrong labels uniformly at random, not from the softmax", _train(negatives="random")),
    "no-peer": ("no peer normalisation", _train(peer=0.0)),
    "no-weight-cost": ("no weight cost (layers and softmax)", _train(weight_cost=0.0, readout_weight_cost=0.0)),
    "mean-2-slope-10": (
        "goodness: mean of squares against 2 with slope 10, not sum of squares minus the width",
        _net(threshold=2.0, sharpness=10.0),
    ),
    "shuffled": ("a new batch order every epoch, not one fixed order", _train(batch_order="shuffled")),
    "l2-norm": ("inputs scaled to length 1 (L2), not to root mean square 1", _net(norm="l2")),
    "low-activity": (
        "goodness = minus the sum of squares: positive data drives activity down",
        _net(positive_activity="low"),
    ),
    # Two changes together, the pairing ffbook used before: Adam's steps do not scale with the loss.
    "adam-mean-2-slope-10": (
        "Adam (as `adam`) and the mean of squares against 2 with slope 10 (as `mean-2-slope-10`) together",
        lambda p: _net(threshold=2.0, sharpness=10.0)(VARIANTS["adam"][1](p)),
    ),
    # Beyond the recipe: one addition at a time.
    "plus-shift": ("plus: each training image moved by up to 1 pixel, redrawn every epoch", _train(shift=1)),
    "plus-dropout": ("plus: dropout 0.1 on what each layer passes to the next", _train(dropout=0.1)),
}


def variant_preset(name: str, epochs: int) -> Preset:
    """``hinton-matlab`` with the variant's change, trained for ``epochs`` (the schedule scaled to them)."""
    if name not in VARIANTS:
        raise ValueError(f"unknown variant {name!r}; choose one of {sorted(VARIANTS)}")
    base = get_preset(BASE)
    changed = VARIANTS[name][1](base)
    return dataclasses.replace(
        changed,
        name=f"{BASE}/{name}",
        train=changed.train.replace(epochs=epochs),
        source=f"{BASE} with one change: {VARIANTS[name][0]}",
    )


def _record_path(out: pathlib.Path, variant: str, seed: int) -> pathlib.Path:
    return out / f"{variant}-seed{seed}.json"


def _run_one(job: tuple[str, int, int, str]) -> str:
    variant, seed, epochs, out = job
    import torch

    torch.set_num_threads(1)
    from ffbook.ff import mnist_tensors, train
    from ffbook.ff.records import new_record

    preset = variant_preset(variant, epochs)
    config = preset.train.replace(seed=seed)
    record = new_record(preset, config, {"train_size": None, "test_size": None}, "cpu")
    record["variant"] = {"name": variant, "change": VARIANTS[variant][0]}
    start = time.perf_counter()
    try:
        data = mnist_tensors(None, None, "cpu")
        _, history, results = train(preset, config=config, device="cpu", data=data, eval_every=5, progress=False)
        record.update(status="complete", history=history.to_dict(), results=results)
    except Exception as error:  # one failed variant must not stop the sweep
        record.update(status="failed", error=f"{type(error).__name__}: {error}")
    record["wall_seconds"] = time.perf_counter() - start
    path = _record_path(pathlib.Path(out), variant, seed)
    path.write_text(json.dumps(record, indent=1))
    error = record.get("results", {}) or {}
    return f"{variant} seed {seed}: {record['status']}, test error {100 * error.get('test_error', float('nan')):.2f}%"


def run(args) -> None:
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = args.variants or list(VARIANTS)
    for name in names:
        variant_preset(name, args.epochs)  # every name and change checked before anything runs
    jobs = [
        (name, seed, args.epochs, str(out))
        for seed in args.seeds
        for name in names
        if not _record_path(out, name, seed).exists()
    ]
    print(f"{len(jobs)} runs to go, {args.workers} at a time", flush=True)
    with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
        for line in pool.imap(_run_one, jobs):
            print(time.strftime("%H:%M:%S"), line, flush=True)


def _percent(values: list[float]) -> tuple[float, float]:
    values = [100 * v for v in values]
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def table(args) -> None:
    out = pathlib.Path(args.out)
    rows = []
    for name, (change, _) in VARIANTS.items():
        records = [json.loads(p.read_text()) for p in sorted(out.glob(f"{name}-seed*.json"))]
        records = [r for r in records if r["status"] == "complete"]
        if not records:
            continue
        results = [r["results"] for r in records]
        rows.append(
            {
                "variant": name,
                "change": change,
                "seeds": [r["train"]["seed"] for r in records],
                "goodness": _percent([r["test_error"] for r in results]),
                "softmax": _percent([r["readout_test_error"] for r in results]),
                "all_layers": _percent([r["all_layers_test_error"] for r in results]),
                "each": [_percent([r["layer_test_errors"][k] for r in results])[0] for k in range(3)],
                "epochs": records[0]["train"]["epochs"],
            }
        )
    lines = [
        "| variant | what changes | seeds | goodness of layers 2-3, mean ± std | softmax | all layers "
        "| layer 1 / 2 / 3 alone |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    for row in rows:
        lines.append(
            f"| `{row['variant']}` | {row['change']} | {len(row['seeds'])} | {row['goodness'][0]:.2f}% ± "
            f"{row['goodness'][1]:.2f} | {row['softmax'][0]:.2f}% ± {row['softmax'][1]:.2f} | "
            f"{row['all_layers'][0]:.2f}% | " + " / ".join(f"{e:.2f}" for e in row["each"]) + "% |"
        )
    (out / "table.md").write_text("\n".join(lines) + "\n")
    (out / "summary.json").write_text(json.dumps(rows, indent=1))
    print("\n".join(lines))
    _figure(rows, out / "ablation.png")


def _figure(rows: list[dict], path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from ffbook.plots import plot_ablation

    plot_ablation(rows).figure.savefig(path, dpi=120, bbox_inches="tight")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("run", "table"))
    parser.add_argument("--out", required=True, help="folder of the run records")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", default=None, help=f"some of {list(VARIANTS)} (default: all)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    run(args) if args.command == "run" else table(args)


if __name__ == "__main__":
    main()
