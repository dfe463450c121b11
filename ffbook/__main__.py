"""Command line: ``python -m ffbook train --preset quick [--epochs N] [--device cpu|cuda] [--out DIR]``.

Trains a Forward-Forward preset on MNIST, prints progress and the final test error, and writes
``results.json`` (config, environment, history, results) and three figures into ``--out``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ffbook.ff import FFConfig


def _environment(device) -> dict:
    import numpy
    import torch

    import ffbook

    info = {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "ffbook": ffbook.__version__,
        "platform": platform.platform(),
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    return info


def _goodness_samples(net, x, y, seed: int):
    """Per-layer goodness of positive (true label) and negative (random wrong label) test images."""
    import torch

    from ffbook.ff import random_wrong_labels

    wrong = random_wrong_labels(y.cpu(), net.num_classes, torch.Generator().manual_seed(seed)).to(y.device)
    return net.layer_goodness(x, y).cpu().numpy(), net.layer_goodness(x, wrong).cpu().numpy()


def _save_figures(out: pathlib.Path, history, net, x_test, y_test, config) -> list[str]:
    import matplotlib
    import matplotlib.figure

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ffbook import plots

    written = []
    figures = {
        "loss_per_layer.png": plots.plot_ff_layer_losses(history.to_dict(), title=f"FF loss per layer ({config.name})"),
        "test_error.png": plots.plot_ff_test_error(history.to_dict(), title=f"Test error per epoch ({config.name})"),
    }
    pos, neg = _goodness_samples(net, x_test[:2000], y_test[:2000], config.seed)
    figures["goodness.png"] = plots.plot_goodness_distributions(pos, neg, threshold=config.threshold)
    for name, drawn in figures.items():
        figure = drawn if isinstance(drawn, matplotlib.figure.Figure) else drawn.figure
        figure.savefig(out / name, dpi=100, bbox_inches="tight")
        plt.close(figure)
        written.append(name)
    return written


# Command-line options that override a field of the preset's FFConfig, by field name.
_OVERRIDES = {"epochs": "--epochs", "seed": "--seed", "amp": "--amp", "batch_size": "--batch-size"}


def config_from_args(args: argparse.Namespace) -> FFConfig:
    """The preset named by ``--preset`` with the options given on the command line applied.

    Raises ``ValueError`` with a message in argparse's style ("argument --batch-size: ...") when the
    options do not fit the preset; ``main`` turns it into a usage error (exit status 2).
    """
    from ffbook.ff import get_preset
    from ffbook.ff.presets import PRESETS

    config = get_preset(args.preset)
    changes = {field: getattr(args, field) for field in _OVERRIDES if getattr(args, field) is not None}
    if args.compile:
        changes["compile"] = True
    if config.schedule == "greedy" and changes.get("batch_size") is not None:
        mini_batch = sorted(name for name, preset in PRESETS.items() if preset.batch_size is not None)
        raise ValueError(
            f"argument --batch-size: preset {config.name!r} trains layer by layer on the whole training set as one "
            f"batch, so it takes no --batch-size; presets with mini-batches: {', '.join(mini_batch)}"
        )
    try:
        return config.replace(**changes)
    except ValueError as error:
        given = ", ".join(
            _OVERRIDES[field] + f" {value}" if field in _OVERRIDES else f"--{field}" for field, value in changes.items()
        )
        raise ValueError(f"the options ({given}) do not fit preset {config.name!r}: {error}") from error


def train_command(args: argparse.Namespace, config: FFConfig | None = None) -> dict:
    """Run ``train`` with parsed arguments; ``config`` defaults to ``config_from_args(args)``."""
    import torch

    import ffbook
    from ffbook.ff import build_net, evaluate, fit, mnist_tensors

    if config is None:
        config = config_from_args(args)
    device = torch.device(args.device or ffbook.default_device())
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda was asked for, but PyTorch sees no CUDA device")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (x_train, y_train), (x_test, y_test) = mnist_tensors(args.train_size, args.test_size, device)
    print(
        f"ffbook: training preset {config.name!r} on {device} ({len(x_train)} training images, {config.epochs} epochs)"
    )
    net = build_net(config, device)
    eval_every = args.eval_every or max(1, config.epochs // 10)
    start = time.perf_counter()
    history = fit(net, config, x_train, y_train, x_test, y_test, eval_every=eval_every, progress=not args.quiet)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    final = evaluate(net, x_test, y_test)
    results = {
        "test_error": final["error"],
        "test_accuracy": 1.0 - final["error"],
        "train_seconds_including_evaluation": seconds,
        "train_seconds_excluding_evaluation": sum(history.epoch_seconds),
        "train_size": len(x_train),
        "test_size": len(x_test),
    }
    if "readout_error" in final:
        results["readout_error"] = final["readout_error"]
    record = {
        "config": config.to_dict(),
        "environment": _environment(device),
        "history": history.to_dict(),
        "results": results,
    }
    record["figures"] = _save_figures(out, history, net, x_test, y_test, config)
    (out / "results.json").write_text(json.dumps(record, indent=2))
    message = f"ffbook: test error {100 * results['test_error']:.2f}% after {seconds:.1f} s"
    if "readout_error" in results:
        message += f" (linear read-out: {100 * results['readout_error']:.2f}%)"
    print(message + f"; wrote {out / 'results.json'}")
    return record


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ffbook", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a Forward-Forward preset on MNIST")
    # Errors found after parsing (options that do not fit the preset) go through the train
    # sub-command's own usage message and exit status 2, like errors found while parsing.
    train.set_defaults(usage_error=train.error)
    from ffbook.ff.presets import PRESETS

    train.add_argument("--preset", required=True, choices=sorted(PRESETS), help="the recipe to run")
    train.add_argument("--epochs", type=_positive_int, help="override the preset's number of epochs")
    train.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when available, else cpu")
    train.add_argument("--out", default="ffbook-run", help="folder for results.json and the figures")
    train.add_argument("--seed", type=int, help="override the preset's seed")
    train.add_argument(
        "--batch-size", type=_positive_int, help="override the preset's mini-batch size (mini-batch presets only)"
    )
    train.add_argument("--amp", choices=["none", "bf16"], help="bf16 autocast (CUDA)")
    train.add_argument("--compile", action="store_true", help="torch.compile the training step")
    train.add_argument("--train-size", type=_positive_int, help="use only the first N training images")
    train.add_argument("--test-size", type=_positive_int, help="use only the first N test images")
    train.add_argument("--eval-every", type=_positive_int, help="measure the test error every K epochs")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "train":
        try:
            config = config_from_args(args)
        except ValueError as error:
            args.usage_error(str(error))  # prints the usage and the message, exits with status 2
        train_command(args, config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
