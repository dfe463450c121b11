"""Command line: ``python -m ffbook train --preset quick [--epochs N] [--device cpu|cuda] [--out DIR]``.

Trains a Forward-Forward preset on MNIST and keeps a record in ``--out``: ``results.json``
(preset, training config, environment, history so far, final results, and a ``status`` of
``running``, ``interrupted`` or ``complete``), rewritten atomically after every epoch;
``checkpoint.pt`` (weights, optimizer state, history) every ``--checkpoint-every`` epochs and at
the end; three figures once the run completes. ``python -m ffbook train --resume DIR``
continues an interrupted run from its last checkpoint to the numbers an uninterrupted run gives.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ffbook.ff import FFConfig, Preset

RECORD = "results.json"
CHECKPOINT = "checkpoint.pt"
FIGURES = ("loss_per_layer.png", "test_error.png", "goodness.png")


def _write_atomically(path: pathlib.Path, write) -> None:
    """Write to a temporary file beside ``path``, then rename it: a reader never sees half a file."""
    temporary = path.with_name(path.name + ".tmp")
    try:
        write(temporary)
        temporary.replace(path)
    finally:
        temporary.unlink(missing_ok=True)


def _save_json(path: pathlib.Path, record: dict) -> None:
    _write_atomically(path, lambda target: target.write_text(json.dumps(record, indent=2)))


def _save_figures(out: pathlib.Path, history, net, x_test, y_test, preset: Preset, seed: int) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from ffbook import plots
    from ffbook.ff import random_wrong_labels

    x, y = x_test[:2000], y_test[:2000]
    wrong = random_wrong_labels(y.cpu(), net.num_classes, torch.Generator().manual_seed(seed)).to(y.device)
    pos, neg = net.layer_goodness(x, y).cpu().numpy(), net.layer_goodness(x, wrong).cpu().numpy()
    drawn = {
        "loss_per_layer.png": plots.plot_ff_layer_losses(history.to_dict(), title=f"FF loss per layer ({preset.name})"),
        "test_error.png": plots.plot_ff_test_error(history.to_dict(), title=f"Test error per epoch ({preset.name})"),
        "goodness.png": plots.plot_goodness_distributions(pos, neg, threshold=preset.net.threshold),
    }
    for name, figure in drawn.items():
        figure = figure if isinstance(figure, matplotlib.figure.Figure) else figure.figure
        figure.savefig(out / name, dpi=100, bbox_inches="tight")
        plt.close(figure)
    return list(drawn)


# Command-line options that override a field of the preset's FFConfig, by field name.
_OVERRIDES = {
    "epochs": "--epochs",
    "seed": "--seed",
    "batch_size": "--batch-size",
    "step": "--step",
    "negatives": "--negatives",
}


def config_from_args(args: argparse.Namespace) -> FFConfig:
    """The preset's training config with the options given on the command line applied.

    Raises ``ValueError`` with a message in argparse's style ("argument --batch-size: ...") when the
    options do not fit the preset; ``main`` turns it into a usage error (exit status 2).
    """
    from ffbook.ff import PRESETS, get_preset

    preset = get_preset(args.preset)
    config = preset.train
    changes = {field: getattr(args, field) for field in _OVERRIDES if getattr(args, field) is not None}
    if config.schedule == "greedy" and changes.get("batch_size") is not None:
        mini_batch = sorted(name for name, other in PRESETS.items() if other.train.batch_size is not None)
        raise ValueError(
            f"argument --batch-size: preset {preset.name!r} trains layer by layer on the whole training set as one "
            f"batch, so it takes no --batch-size; presets with mini-batches: {', '.join(mini_batch)}"
        )
    try:
        return config.replace(**changes)
    except ValueError as error:
        given = ", ".join(f"{_OVERRIDES[field]} {value}" for field, value in changes.items())
        raise ValueError(f"the options ({given}) do not fit preset {preset.name!r}: {error}") from error


def _prepare_out(out: pathlib.Path, resuming: bool) -> None:
    """Create ``out`` and prove it writable before any training; clear an older run's files."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".ffbook-write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as error:
        message = f"error: --out {out} cannot be written ({error.strerror or error}); nothing was trained"
        raise SystemExit(message) from None
    if not resuming:
        for name in (RECORD, CHECKPOINT, *FIGURES):
            (out / name).unlink(missing_ok=True)


def train_command(args: argparse.Namespace, config: FFConfig | None = None) -> dict:
    """Run ``train`` for parsed arguments (or ``--resume``); return the final record."""
    import time

    import torch

    import ffbook
    from ffbook.ff import History, get_preset, mnist_tensors, train
    from ffbook.ff.records import environment
    from ffbook.ff.training import FFConfig

    out = pathlib.Path(args.resume or args.out)
    resume_state = None
    if args.resume:
        record_path, checkpoint_path = out / RECORD, out / CHECKPOINT
        if not record_path.is_file() or not checkpoint_path.is_file():
            raise SystemExit(f"error: --resume {out}: no {RECORD} and {CHECKPOINT} there to resume from")
        old = json.loads(record_path.read_text())
        if old.get("status") == "complete":
            raise SystemExit(f"error: --resume {out}: that run is complete; nothing to resume")
        preset = get_preset(old["preset"])
        config = FFConfig(**old["train"])
        sizes = old["sizes"]
        resume_state = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
    else:
        preset = get_preset(args.preset)
        config = config or config_from_args(args)
        sizes = {"train_size": args.train_size, "test_size": args.test_size}
    device = torch.device(args.device or ffbook.default_device())
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda was asked for, but PyTorch sees no CUDA device")
    _prepare_out(out, resuming=bool(args.resume))

    record = {
        "status": "running",
        "preset": preset.name,
        "net": preset.net.to_dict(),
        "train": config.to_dict(),
        "sizes": sizes,
        "environment": environment(device),
        "history": None,
        "results": None,
    }
    data = mnist_tensors(sizes["train_size"], sizes["test_size"], device)
    every = args.checkpoint_every

    def after_epoch(epoch, net, history, optimizers):
        record["history"] = history.to_dict()
        _save_json(out / RECORD, record)
        if (epoch + 1) % every == 0 or epoch + 1 == config.epochs:
            state = {
                "net": net.state_dict(),
                "optimizers": [optimizer.state_dict() for optimizer in optimizers],
                "history": history.to_dict(),
            }
            _write_atomically(out / CHECKPOINT, lambda target: torch.save(state, target))

    fit_state = {}
    if resume_state is not None:
        fit_state = {
            "history": History.from_dict(resume_state["history"]),
            "optimizer_state": resume_state["optimizers"],
            "initial_state": resume_state["net"],
        }
    done = len(fit_state["history"].epoch_seconds) if fit_state else 0
    print(
        f"ffbook: training preset {preset.name!r} on {device} ({len(data[0][0])} training images, "
        f"epochs {done + 1}-{config.epochs})"
    )
    eval_every = args.eval_every or max(1, config.epochs // 10)
    start = time.perf_counter()
    try:
        net, history, results = train(
            preset,
            config=config,
            device=device,
            data=data,
            eval_every=eval_every,
            progress=not args.quiet,
            callback=after_epoch,
            **fit_state,
        )
    except KeyboardInterrupt:
        record["status"] = "interrupted"
        _save_json(out / RECORD, record)
        epochs = len(record["history"]["epoch_seconds"]) if record["history"] else 0
        print(f"\nffbook: interrupted after {epochs} finished epoch(s)", file=sys.stderr)
        print(f"ffbook: continue with: python -m ffbook train --resume {out}", file=sys.stderr)
        raise SystemExit(130) from None
    record["status"] = "complete"
    record["history"] = history.to_dict()
    record["results"] = results
    record["figures"] = _save_figures(out, history, net, *data[1], preset, config.seed)
    _save_json(out / RECORD, record)
    seconds = time.perf_counter() - start
    message = f"ffbook: test error {100 * results['test_error']:.2f}% after {seconds:.1f} s"
    if "readout_test_error" in results:
        message += f" (linear read-out: {100 * results['readout_test_error']:.2f}%)"
    print(message + f"; wrote {out / RECORD}")
    return record


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _seed(text: str) -> int:
    from ffbook.ff.core import check_seed

    try:
        return check_seed(int(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed in [0, 2**63 - 1], got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    from ffbook.ff import PRESETS
    from ffbook.ff.training import NEGATIVES, STEPS

    parser = argparse.ArgumentParser(prog="python -m ffbook", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a Forward-Forward preset on MNIST")
    # Errors found after parsing (options that do not fit the preset) go through the train
    # sub-command's own usage message and exit status 2, like errors found while parsing.
    train.set_defaults(usage_error=train.error)
    train.add_argument("--preset", choices=sorted(PRESETS), help="the recipe to run (required unless --resume)")
    train.add_argument("--resume", metavar="DIR", help="continue the interrupted run recorded in DIR")
    train.add_argument("--epochs", type=_positive_int, help="override the preset's number of epochs")
    train.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when available, else cpu")
    train.add_argument("--out", default="ffbook-run", help="folder for results.json, the checkpoint and figures")
    train.add_argument("--seed", type=_seed, help="override the preset's seed")
    train.add_argument(
        "--batch-size", type=_positive_int, help="override the preset's mini-batch size (mini-batch presets only)"
    )
    train.add_argument("--step", choices=STEPS, help="how a training step runs (default: the preset's, auto)")
    train.add_argument("--negatives", choices=NEGATIVES, help="override how negative labels are drawn")
    train.add_argument("--train-size", type=_positive_int, help="use only the first N training images")
    train.add_argument("--test-size", type=_positive_int, help="use only the first N test images")
    train.add_argument("--eval-every", type=_positive_int, help="measure the test error every K epochs")
    train.add_argument("--checkpoint-every", type=_positive_int, default=5, help="save a checkpoint every K epochs")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


_RESUME_CONFLICTS = ("preset", "epochs", "seed", "batch_size", "step", "negatives", "train_size", "test_size")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "train":
        config = None
        if args.resume:
            given = [name for name in _RESUME_CONFLICTS if getattr(args, name) is not None]
            if given:
                options = ", ".join("--" + name.replace("_", "-") for name in given)
                args.usage_error(f"argument --resume: a resumed run keeps its recorded settings; drop {options}")
        elif args.preset is None:
            args.usage_error("the following arguments are required: --preset (or --resume DIR)")
        else:
            try:
                config = config_from_args(args)
            except ValueError as error:
                args.usage_error(str(error))  # prints the usage and the message, exits with status 2
        train_command(args, config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
