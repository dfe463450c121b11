"""Command line: ``python -m ffbook train --preset quick [--epochs N] [--device cpu|cuda] [--out DIR]``.

Trains a Forward-Forward preset on MNIST and keeps a record in ``--out`` (``ffbook.ff.records``'s
schema): ``results.json`` (preset, network spec, training config, environment, history so far,
final results, and a ``status``: ``running``, ``interrupted``, ``failed`` or ``complete``),
rewritten atomically after every epoch; ``checkpoint.pt`` (weights, optimizer state, history)
every ``--checkpoint-every`` epochs and at the end; three figures once the run completes.
``python -m ffbook train --resume DIR`` rebuilds the network and training from the record itself
and continues from its last checkpoint to the numbers an uninterrupted run gives.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ffbook.ff import FFConfig, GreedyConfig

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


def _save_figures(out: pathlib.Path, history, net, x_test, y_test, name: str, seed: int) -> list[str]:
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
        "loss_per_layer.png": plots.plot_ff_layer_losses(history.to_dict(), title=f"FF loss per layer ({name})"),
        "test_error.png": plots.plot_ff_test_error(
            history.to_dict(), title=f"Error per epoch ({name}, {history.eval_set} set)"
        ),
        "goodness.png": plots.plot_goodness_distributions(
            pos, neg, threshold=net.layers[0].sign * net.layers[0].threshold
        ),
    }
    for name, figure in drawn.items():
        figure = figure if isinstance(figure, matplotlib.figure.Figure) else figure.figure
        figure.savefig(out / name, dpi=100, bbox_inches="tight")
        plt.close(figure)
    return list(drawn)


# Command-line options that override a field of the preset's training config, by field name.
_OVERRIDES = {
    "epochs": "--epochs",
    "seed": "--seed",
    "batch_size": "--batch-size",
    "negatives": "--negatives",
    "validation": "--validation",
}


def config_from_args(args: argparse.Namespace) -> FFConfig | GreedyConfig:
    """The preset's training config with the options given on the command line applied.

    Raises ``ValueError`` with a message in argparse's style ("argument --batch-size: ...") when the
    options do not fit the preset; ``main`` turns it into a usage error (exit status 2).
    """
    import dataclasses

    from ffbook.ff import PRESETS, get_preset

    preset = get_preset(args.preset)
    config = preset.train
    changes = {field: getattr(args, field) for field in _OVERRIDES if getattr(args, field) is not None}
    fields = {field.name for field in dataclasses.fields(config)}
    for field in changes:
        if field not in fields:
            takers = sorted(name for name, other in PRESETS.items() if hasattr(other.train, field))
            raise ValueError(
                f"argument {_OVERRIDES[field]}: preset {preset.name!r} trains layer by layer on the whole training "
                f"set, so it takes no {_OVERRIDES[field]}; presets that do: {', '.join(takers)}"
            )
    validation = changes.get("validation", getattr(config, "validation", 0))
    if args.train_size is not None and validation and args.train_size <= validation:
        raise ValueError(
            f"argument --train-size: preset {preset.name!r} holds out the last {validation} training images for "
            f"validation; give more than {validation}, or a smaller --validation"
        )
    try:
        return config.replace(**changes)
    except ValueError as error:
        given = ", ".join(f"{_OVERRIDES[field]} {value}" for field, value in changes.items())
        raise ValueError(f"the options ({given}) do not fit preset {preset.name!r}: {error}") from error


def _prepare_out(out: pathlib.Path, overwrite: bool) -> None:
    """Create ``out`` and prove it writable before any training; an older run there needs ``overwrite``."""
    ours = (RECORD, CHECKPOINT, *FIGURES)
    if out.is_dir():
        others = sorted(p.name for p in out.iterdir() if p.name not in ours)
        if others:
            raise SystemExit(
                f"error: --out {out} holds other files ({', '.join(others[:3])}...); choose an empty or new folder"
            )
        if any((out / name).exists() for name in ours) and not overwrite:
            raise SystemExit(
                f"error: --out {out} holds another run's record; pass --overwrite to replace it, "
                f"or --resume {out} to continue it"
            )
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".ffbook-write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as error:
        message = f"error: --out {out} cannot be written ({error.strerror or error}); nothing was trained"
        raise SystemExit(message) from None
    for name in ours:
        (out / name).unlink(missing_ok=True)


def _resume_from(out: pathlib.Path, device):
    """The record, the rebuilt preset (from the record's own spec and config) and the checkpoint in ``out``."""
    import torch

    from ffbook.ff import FFNetSpec, Preset
    from ffbook.ff.config import _Config
    from ffbook.ff.records import SCHEMA

    record_path, checkpoint_path = out / RECORD, out / CHECKPOINT
    if not record_path.is_file() or not checkpoint_path.is_file():
        raise SystemExit(f"error: --resume {out}: no {RECORD} and {CHECKPOINT} there to resume from")
    old = json.loads(record_path.read_text())
    if old.get("schema") != SCHEMA:
        raise SystemExit(
            f"error: --resume {out}: its record has schema {old.get('schema')!r}, this ffbook writes {SCHEMA}; "
            "start a new run"
        )
    if old.get("status") == "complete":
        raise SystemExit(f"error: --resume {out}: that run is complete; nothing to resume")
    try:
        preset = Preset(old["preset"], FFNetSpec(**old["net"]), _Config.from_dict(old["train"]), "resumed")
    except (TypeError, ValueError) as error:
        raise SystemExit(f"error: --resume {out}: this ffbook cannot rebuild that run ({error})") from None
    state = torch.load(checkpoint_path, map_location=device, weights_only=True)
    return old, preset, state


def train_command(args: argparse.Namespace, config: FFConfig | GreedyConfig | None = None) -> dict:
    """Run ``train`` for parsed arguments (or ``--resume``); return the final record."""
    import time

    import ffbook
    from ffbook._validate import check_device
    from ffbook.ff import History, get_preset, mnist_tensors, train
    from ffbook.ff.records import new_record

    try:
        device = check_device(args.device or ffbook.default_device())
    except ValueError as error:
        raise SystemExit(f"error: --device: {error}") from None
    out = pathlib.Path(args.resume or args.out)
    fit_state = {}
    if args.resume:
        record, preset, state = _resume_from(out, device)
        config, sizes = preset.train, record["sizes"]
        record.update(status="running", environment=new_record(preset, config, sizes, device)["environment"])
        fit_state = {
            "history": History.from_dict(state["history"]),
            "optimizer_state": state["optimizer"],
            "initial_state": state["net"],
        }
    else:
        preset = get_preset(args.preset)
        config = config or config_from_args(args)
        sizes = {"train_size": args.train_size, "test_size": args.test_size}
        _prepare_out(out, args.overwrite)
        record = new_record(preset, config, sizes, device)
    data = mnist_tensors(sizes["train_size"], sizes["test_size"], device)
    every = args.checkpoint_every

    def after_epoch(epoch, net, history, optimizer):
        record["history"] = history.to_dict()
        _save_json(out / RECORD, record)
        if (epoch + 1) % every == 0 or epoch + 1 == config.epochs:
            state = {"net": net.state_dict(), "optimizer": optimizer.state_dict(), "history": history.to_dict()}
            _write_atomically(out / CHECKPOINT, lambda target: torch_save(state, target))

    from torch import save as torch_save

    done = len(fit_state["history"].epoch_seconds) if fit_state else 0
    held_out = getattr(config, "validation", 0)
    images = f"{len(data[0][0])} training images" + (f", the last {held_out} for validation" if held_out else "")
    print(f"ffbook: training preset {preset.name!r} on {device} ({images}, epochs {done + 1}-{config.epochs})")
    eval_every = args.eval_every or max(1, config.epochs // 10)
    how = {"step": args.step} if args.step else {}
    start = time.perf_counter()
    _save_json(out / RECORD, record)
    try:
        net, history, results = train(
            preset,
            config=config,
            device=device,
            data=data,
            eval_every=eval_every,
            progress=not args.quiet,
            callback=after_epoch,
            **how,
            **fit_state,
        )
    except KeyboardInterrupt:
        record["status"] = "interrupted"
        _save_json(out / RECORD, record)
        epochs = len(record["history"]["epoch_seconds"]) if record["history"] else 0
        print(f"\nffbook: interrupted after {epochs} finished epoch(s)", file=sys.stderr)
        print(f"ffbook: continue with: python -m ffbook train --resume {out}", file=sys.stderr)
        raise SystemExit(130) from None
    except BaseException as error:
        record["status"] = "failed"
        record["error"] = f"{type(error).__name__}: {error}"
        _save_json(out / RECORD, record)
        raise
    record["status"] = "complete"
    record["history"] = history.to_dict()
    record["results"] = results
    record["figures"] = _save_figures(out, history, net, *data[1], preset.name, config.seed)
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


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {value}")
    return value


def _seed(text: str) -> int:
    from ffbook._validate import check_seed

    try:
        return check_seed("seed", int(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed in [0, 2**63 - 1], got {text!r}") from None


def _folder(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a folder name, got an empty string")
    return text


def build_parser() -> argparse.ArgumentParser:
    from ffbook.ff import PRESETS
    from ffbook.ff.config import NEGATIVES
    from ffbook.ff.train import STEPS

    parser = argparse.ArgumentParser(prog="python -m ffbook", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a Forward-Forward preset on MNIST")
    # Errors found after parsing (options that do not fit the preset) go through the train
    # sub-command's own usage message and exit status 2, like errors found while parsing.
    train.set_defaults(usage_error=train.error)
    train.add_argument("--preset", choices=sorted(PRESETS), help="the recipe to run (required unless --resume)")
    train.add_argument("--resume", metavar="DIR", type=_folder, help="continue the interrupted run recorded in DIR")
    train.add_argument("--epochs", type=_positive_int, help="override the preset's number of epochs")
    train.add_argument("--device", choices=["cpu", "cuda"], help="default: cuda when available, else cpu")
    train.add_argument(
        "--out", type=_folder, help="folder for results.json, the checkpoint and figures (default ffbook-run)"
    )
    train.add_argument("--overwrite", action="store_true", help="replace another run's record in --out")
    train.add_argument("--seed", type=_seed, help="override the preset's seed")
    train.add_argument(
        "--batch-size", type=_positive_int, help="override the preset's mini-batch size (mini-batch presets only)"
    )
    train.add_argument("--step", choices=STEPS, help="how a training step runs (default auto: a CUDA graph on a GPU)")
    train.add_argument("--negatives", choices=NEGATIVES, help="override how negative labels are drawn")
    train.add_argument(
        "--validation", type=_non_negative_int, help="hold out the last N training images for validation (0: none)"
    )
    train.add_argument("--train-size", type=_positive_int, help="use only the first N training images (at most 60000)")
    train.add_argument("--test-size", type=_positive_int, help="use only the first N test images (at most 10000)")
    train.add_argument("--eval-every", type=_positive_int, help="measure the errors every K epochs")
    train.add_argument("--checkpoint-every", type=_positive_int, default=5, help="save a checkpoint every K epochs")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _check_runnable(args: argparse.Namespace, config: FFConfig | GreedyConfig) -> None:
    """Refuse, before any data or folder is touched, a step mode or negatives ``fit`` would refuse."""
    import ffbook
    from ffbook._validate import check_device
    from ffbook.ff import get_preset
    from ffbook.ff.train import resolve_step

    try:
        device = check_device(args.device or ffbook.default_device())
    except ValueError:
        return  # train_command names the bad --device
    preset = get_preset(args.preset)
    try:
        resolve_step(config, args.step or "auto", device, preset.net.readout is not None)
    except ValueError as error:
        given = [f"--{name} {getattr(args, name)}" for name in ("step", "negatives") if getattr(args, name)]
        options = f"the options ({', '.join(given)})" if given else "this run"
        raise ValueError(f"{options} cannot run with preset {preset.name!r} on {device}: {error}") from None


_RESUME_CONFLICTS = (
    "preset", "epochs", "seed", "batch_size", "negatives", "validation", "train_size", "test_size", "out", "overwrite",
)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "train":
        config = None
        if args.resume:
            given = [name for name in _RESUME_CONFLICTS if getattr(args, name) not in (None, False)]
            if given:
                options = ", ".join("--" + name.replace("_", "-") for name in given)
                args.usage_error(
                    f"argument --resume: a resumed run keeps its recorded settings and folder; drop {options}"
                )
        elif args.preset is None:
            args.usage_error("the following arguments are required: --preset (or --resume DIR)")
        else:
            args.out = args.out or "ffbook-run"
            for name, limit in (("train_size", 60_000), ("test_size", 10_000)):
                if getattr(args, name) is not None and getattr(args, name) > limit:
                    option = "--" + name.replace("_", "-")
                    args.usage_error(f"argument {option}: MNIST has {limit} such images, got {getattr(args, name)}")
            try:
                config = config_from_args(args)
                _check_runnable(args, config)
            except ValueError as error:
                args.usage_error(str(error))  # prints the usage and the message, exits with status 2
        train_command(args, config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
