"""Hard negatives two ways, side by side on one machine: every label's goodness vs the read-out's one pass.

``hard`` scores all ten labels of every training image each epoch (ten forward passes per image);
``hard_readout`` draws from the softmax of the linear read-out on a neutral label (one pass, as in
Hinton's Matlab code). Same net, same seeds, same number of epochs: the record gives the time
per epoch (training and negative sampling together) and the test errors after that budget.

    python bench/ff_negatives.py --dims 784 500 500 500 500 --train-size 20000 --epochs 2 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics

import torch

import ffbook
from ffbook.ff import FFNetSpec, Preset, get_preset, mnist_tensors, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[784, 500, 500, 500, 500])
    parser.add_argument("--train-size", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default=None, help="write the JSON record here")
    args = parser.parse_args()

    base = get_preset("hinton-2022")
    # The hinton-2022 recipe at this width: the threshold is the width (sum of squares minus width).
    spec = FFNetSpec(**{**base.net.to_dict(), "dims": tuple(args.dims), "threshold": float(args.dims[1])})
    preset = Preset(f"hinton-2022 at {args.dims}", spec, base.train.replace(epochs=args.epochs), base.source)
    data = mnist_tensors(args.train_size, None, "cpu")
    runs = {"hard": [], "hard_readout": []}
    for seed in args.seeds:
        for negatives in runs:  # alternate, so both see the same machine load
            config = preset.train.replace(seed=seed, negatives=negatives, redraw="epoch")
            _, history, results = train(
                preset, config=config, device="cpu", data=data, progress=False, eval_every=args.epochs
            )
            run = {"seed": seed, "epoch_seconds": history.epoch_seconds, **results}
            runs[negatives].append(run)
            print(
                negatives,
                json.dumps({k: run[k] for k in ("seed", "test_error", "readout_test_error")}),
                f"{statistics.mean(history.epoch_seconds):.1f} s/epoch",
                flush=True,
            )
    summary = {
        "machine": f"cpu ({platform.machine()}), {os.cpu_count()} cores, torch threads {torch.get_num_threads()}",
        "load_average_end": os.getloadavg(),
        "torch": torch.__version__,
        "ffbook": ffbook.__version__,
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "net": spec.to_dict(),
        "train": preset.train.to_dict(),
        "train_size": args.train_size,
        "runs": runs,
    }
    for negatives, rows in runs.items():
        summary[negatives] = {
            "seconds_per_epoch_mean": statistics.mean(s for r in rows for s in r["epoch_seconds"]),
            "test_error_percent": [100 * r["test_error"] for r in rows],
            "readout_test_error_percent": [100 * r["readout_test_error"] for r in rows],
        }
        print(negatives, summary[negatives])
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(summary, handle, indent=1)


if __name__ == "__main__":
    main()
