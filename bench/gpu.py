"""Every GPU measurement of the book in one run, most valuable first, with its own time guard.

Run by ``bench/gpu.sh`` (``make gpu``) on a machine with one CUDA GPU, or with ``--dry-run`` on a
CPU with tiny sizes (``make gpu DRY_RUN=1``, part of ``make test``). In order:

1. the GPU tests (``tests/test_ff_gpu.py``: CUDA vs CPU predictions, graph vs eager training,
   resuming a graph-mode run); recorded as skipped, not passed, where no GPU is there;
2. ``hinton-matlab`` (Hinton's released recipe, 784-1000x3, 100 epochs) for seeds 0, 1, 2 on the
   fast path (CUDA graph);
3. ``hinton-jitter`` (that recipe with one-pixel shifts and dropout, 200 epochs) for seeds 0, 1, 2;
   ``hinton-2022`` (the same recipe at the paper's 4 x 2000, 60 epochs) for seeds 0, 1, 2;
4. ``hinton-matlab`` seed 0 eagerly, under a time cap (its time per epoch against the graph's);
5. ``keras-io`` (the PyTorch preset) once;
6. the Keras ``FFNetwork`` on the full keras.io recipe (250 x 50 steps, Keras' PyTorch backend).

Everything lands in ``--out`` (at most 8 files): ``gpu-results.json`` (rewritten after every
run, so a timeout loses only the run in progress; each run has its config, per-epoch history
with per-layer losses and errors, and times), ``keras-ffnetwork.json``, ``pytest.txt``; the
shell wrapper adds ``log.txt``. A run that would not fit in what is left of ``--budget`` is
skipped and the record says so; a run that is cut by the guard keeps its finished epochs.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

import torch

from ffbook.ff import FFNetSpec, Preset, get_preset, mnist_tensors, train
from ffbook.ff.records import SCHEMA, environment

ROOT = pathlib.Path(__file__).resolve().parent.parent


class OutOfTime(Exception):
    """Raised from the epoch callback when the run passes its deadline."""


class Recorder:
    """The combined record, written atomically (write, then rename) after every change."""

    def __init__(self, out: pathlib.Path, record: dict) -> None:
        self.path, self.record = out / "gpu-results.json", record
        self.save()

    def save(self) -> None:
        temporary = self.path.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(self.record, indent=1))
        temporary.replace(self.path)

    def add(self, name: str, entry: dict) -> None:
        self.record["runs"][name] = entry
        self.save()
        print(f"[gpu] {name}: {summary(entry)}", flush=True)


def summary(entry: dict) -> str:
    if "reason" in entry:
        return f"{entry['status']}: {entry['reason']}"
    results = entry.get("results", {})
    parts = [entry.get("status", "")]
    for key in ("test_error", "readout_test_error"):
        if key in results:
            parts.append(f"{key} {100 * results[key]:.2f}%")
    if "train_seconds" in results:
        parts.append(f"{results['train_seconds']:.1f} s")
    if "epochs_done" in entry:
        parts.append(f"{entry['epochs_done']} epochs")
    return ", ".join(str(p) for p in parts if p)


def run_preset(
    preset: Preset, config, device, data, deadline: float, eval_every: int, progress: bool, step: str = "auto"
) -> dict:
    """Train one preset under a deadline; the finished epochs survive a cut."""
    from ffbook.ff import History

    history = History()

    def guard(epoch, net, history_so_far, optimizers):
        if time.perf_counter() > deadline and epoch + 1 < config.epochs:
            raise OutOfTime

    entry = {"preset": preset.name, "net": preset.net.to_dict(), "train": config.to_dict(), "step_asked": step}
    start = time.perf_counter()
    try:
        _, history, results = train(
            preset,
            config=config,
            device=device,
            data=data,
            eval_every=eval_every,
            progress=progress,
            callback=guard,
            history=history,
            step=step,
        )
        entry["status"] = "complete"
    except OutOfTime:
        results = {"train_seconds": time.perf_counter() - start, "epoch_seconds_total": sum(history.epoch_seconds)}
        if history.test_error:
            results["test_error"] = history.test_error[-1]
            if history.readout_test_error:
                results["readout_test_error"] = history.readout_test_error[-1]
        entry["status"] = "interrupted"
        entry["reason"] = "cut by the time guard"
    except Exception as error:  # one failed run must not lose the others
        import traceback

        entry["status"] = "failed"
        entry["reason"] = f"{type(error).__name__}: {error}"
        entry["traceback"] = traceback.format_exc()[-4000:]
        print(entry["traceback"], flush=True)
        results = {"train_seconds": time.perf_counter() - start}
    entry["epochs_done"] = len(history.epoch_seconds)
    entry["history"] = history.to_dict()
    entry["results"] = results
    return entry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for the records (at most 8 files)")
    parser.add_argument("--budget", type=float, default=None, help="seconds for everything (540; dry run: 300)")
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes on the CPU, same steps")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    budget = args.budget or (300.0 if args.dry_run else 540.0)
    end = start + budget
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    device = torch.device("cpu" if args.dry_run else "cuda")
    if device.type == "cuda" and not torch.cuda.is_available():
        print("[gpu] no CUDA device: run with --dry-run on a CPU", file=sys.stderr)
        return 2
    record = {
        "schema": SCHEMA,
        "environment": environment(device),
        "dry_run": args.dry_run,
        "budget_s": budget,
        "runs": {},
    }
    recorder = Recorder(out, record)

    def left() -> float:
        return end - time.perf_counter()

    # 1. The GPU tests (skipped, not failed, on a CPU: the dry run checks that they are collected).
    test_start = time.perf_counter()
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs", str(ROOT / "tests" / "test_ff_gpu.py")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=max(60.0, min(180.0, left())),
    )
    (out / "pytest.txt").write_text(tests.stdout + tests.stderr)
    last_line = (tests.stdout.strip().splitlines() or [""])[-1]
    if tests.returncode != 0:
        status = "failed"
    elif " passed" not in last_line and " skipped" in last_line:
        status = "skipped"  # no GPU here: every GPU test was skipped, none passed
    else:
        status = "complete"
    recorder.add(
        "gpu-tests",
        {"status": status, "seconds": time.perf_counter() - test_start, "summary": last_line},
    )

    # Sizes: the real runs on the GPU; a few hundred images and tiny widths in the dry run.
    matlab, jitter, paper = get_preset("hinton-matlab"), get_preset("hinton-jitter"), get_preset("hinton-2022")
    keras_io = get_preset("keras-io")
    if args.dry_run:

        def tiny(preset: Preset, dims: tuple, **changes) -> Preset:
            spec = FFNetSpec(**{**preset.net.to_dict(), "dims": dims})
            if preset.net.sharpness == preset.net.dims[1]:  # Hinton's logit: sum of squares minus the width
                spec = FFNetSpec(**{**spec.to_dict(), "sharpness": float(dims[1])})
            return Preset(preset.name, spec, preset.train.replace(**changes), preset.source)

        matlab = tiny(matlab, (784, 32, 32, 32), epochs=2, batch_size=50, validation=100)
        jitter = tiny(jitter, (784, 32, 32, 32), epochs=2, batch_size=50, validation=100)
        paper = tiny(paper, (784, 32, 32, 32, 32), epochs=2, batch_size=50, validation=100)
        keras_io = tiny(keras_io, (784, 32, 32), epochs=2, steps_per_layer=3)
        data = mnist_tensors(300, 200, device)
    else:
        data = mnist_tensors(None, None, device)
        # Warm-up (cuBLAS handles, graph capture machinery), not recorded.
        small = mnist_tensors(2000, 500, device)
        try:
            warm = matlab.train.replace(epochs=1, validation=500)
            train(matlab, config=warm, device=device, data=small, progress=False)
        except Exception as error:  # the real runs record their own failures
            print(f"[gpu] warm-up failed: {type(error).__name__}: {error}", flush=True)

    durations: dict[str, list[float]] = {}

    def schedule(name: str, preset: Preset, config, share: float = 1.0, step: str = "auto") -> None:
        """Run if it can fit (judged by the same preset's earlier runs); ``share`` caps it to that
        fraction of the time left."""
        earlier = durations.get(preset.name)
        estimate = 1.1 * max(earlier) if earlier else None
        if estimate is not None and estimate > left():
            recorder.add(name, {"status": "skipped", "reason": f"needs about {estimate:.0f} s, {left():.0f} s left"})
            return
        deadline = time.perf_counter() + share * left()
        entry = run_preset(preset, config, device, data, deadline, 1, args.progress, step)
        durations.setdefault(preset.name, []).append(entry["results"]["train_seconds"])
        recorder.add(name, entry)

    # 2. The runs no lent GPU has finished yet come first: the paper's network with Hinton's recipe
    # (4 x 2000, 60 epochs; seeds 0-1 ran on 2026-12-04), the eager step for the time ratio (capped),
    # keras-io (the PyTorch preset, greedy, full batch), then the Keras FFNetwork.
    for seed in (0, 1, 2):
        schedule(f"{paper.name}-seed{seed}-graph", paper, paper.train.replace(seed=seed), 0.9)
    schedule("hinton-matlab-seed0-eager", matlab, matlab.train.replace(seed=0), share=0.3, step="eager")
    schedule("keras-io-seed0", keras_io, keras_io.train, share=0.5)
    # 3. The Keras FFNetwork on the full keras.io recipe, Keras on PyTorch, in its own process (at most 200 s).
    keras_json = out / "keras-ffnetwork.json"
    if left() > 30:
        command = [sys.executable, str(ROOT / "bench" / "ff_keras.py"), "--backend", "torch", "--full"]
        command += ["--json", str(keras_json), "--max-seconds", f"{max(10.0, min(200.0, left() - 60)):.0f}"]
        if args.dry_run:
            command += ["--train-size", "300", "--outer-epochs", "2", "--inner-steps", "3", "--dims", "784", "32", "32"]
        keras_start = time.perf_counter()
        environment_vars = {**os.environ, "KERAS_BACKEND": "torch"}
        if args.dry_run:
            environment_vars["CUDA_VISIBLE_DEVICES"] = ""
        try:
            done = subprocess.run(command, cwd=ROOT, env=environment_vars, timeout=max(20.0, min(260.0, left() - 10)))
            status = "complete" if done.returncode == 0 else "failed"
        except subprocess.TimeoutExpired:
            status = "interrupted"
        entry = {"status": status, "seconds": time.perf_counter() - keras_start, "record": keras_json.name}
        if keras_json.exists():
            entry["results"] = json.loads(keras_json.read_text())
        recorder.add("keras-ffnetwork-torch", entry)
    else:
        recorder.add("keras-ffnetwork-torch", {"status": "skipped", "reason": f"{left():.0f} s left"})


    # 4. Hinton's recipe again with what is left (2026-12-04 ran them all): his network (784-1000x3,
    # 100 epochs), then with shifts and dropout (200 epochs).
    for preset in (matlab, jitter):
        for seed in (0, 1, 2):
            schedule(f"{preset.name}-seed{seed}-graph", preset, preset.train.replace(seed=seed), 0.9)

    import gpu_imports

    gpu_imports.record("gpu")
    recorder.record["total_seconds"] = time.perf_counter() - start
    recorder.save()
    print(f"[gpu] done in {recorder.record['total_seconds']:.0f} s; records in {out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
