"""``python -m ffbook train``: a tiny run writes the JSON record, the checkpoint and the three figures;
the --out folder, --resume, failures and usage errors."""

from __future__ import annotations

import dataclasses
import importlib
import json

import pytest
import torch

from ffbook.__main__ import main
from ffbook.ff import PRESETS, FFConfig, get_preset
from ffbook.ff.records import SCHEMA, STATUSES

TINY = ["--device", "cpu", "--train-size", "600", "--test-size", "300", "--quiet"]
# The module: ``ffbook.ff.train`` as an attribute is the function the package exports under that name.
train_module = importlib.import_module("ffbook.ff.train")


def test_tiny_training_run_writes_results_and_figures(tmp_path, capsys):
    out = tmp_path / "run"
    main(["train", "--preset", "quick", "--epochs", "2", "--out", str(out), "--seed", "3", *TINY])
    record = json.loads((out / "results.json").read_text())
    assert record["schema"] == SCHEMA == 2 and record["status"] == "complete" and record["status"] in STATUSES
    assert record["preset"] == "quick" and "error" not in record
    assert record["train"]["epochs"] == 2 and record["train"]["seed"] == 3 and record["train"]["kind"] == "FFConfig"
    assert record["net"]["dims"] == [784, 1000]
    assert record["environment"]["device"] == "cpu" and "torch" in record["environment"]
    history = record["history"]
    assert len(history["layer_loss"]) == 2 and all(len(row) == 1 for row in history["layer_loss"])
    assert history["test_epochs"][-1] == 2 and history["eval_set"] == "test"
    results = record["results"]
    assert results["train_size"] == 600 and results["test_size"] == 300
    assert results["test_error"] == pytest.approx(history["test_error"][-1])
    for name in ("loss_per_layer.png", "goodness.png", "test_error.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(record["figures"]) == ["goodness.png", "loss_per_layer.png", "test_error.png"]
    assert not list(out.glob("*.tmp"))
    checkpoint = torch.load(out / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert set(checkpoint) == {"net", "optimizer", "history"}
    assert checkpoint["net"]["layers.0.linear.weight"].shape == (1000, 784)
    assert checkpoint["history"] == history
    printed = capsys.readouterr().out
    assert "test error" in printed and "results.json" in printed


def _no_training(monkeypatch):
    import ffbook.ff

    def no_training(*args, **kwargs):
        raise AssertionError("nothing may be trained here")

    monkeypatch.setattr(ffbook.ff, "train", no_training)


def test_an_unwritable_out_folder_is_refused_before_training(tmp_path, monkeypatch):
    _no_training(monkeypatch)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(SystemExit, match="cannot be written"):
        main(["train", "--preset", "quick", "--out", str(blocker / "run"), *TINY])


def _interrupt_in_epoch(monkeypatch, interrupted_epoch, error=KeyboardInterrupt):
    """Make ``fit`` raise ``error`` as epoch ``interrupted_epoch`` (0-based) starts; return the real factor."""
    real_lr_factor = train_module.lr_factor

    def interrupting(config, epoch):
        if epoch == interrupted_epoch:
            raise error
        return real_lr_factor(config, epoch)

    monkeypatch.setattr(train_module, "lr_factor", interrupting)
    return real_lr_factor


def test_an_interrupted_run_keeps_its_epochs_and_resumes_to_the_same_numbers(tmp_path, monkeypatch, capsys):
    """Ctrl-C during epoch 4 of 4: the record says interrupted; --resume gives the uninterrupted numbers."""
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    (cut / "results.json").parent.mkdir()
    (cut / "results.json").write_text('{"status": "complete", "old": true}')  # an older run's record
    argv = ["train", "--preset", "quick", "--epochs", "4", "--checkpoint-every", "2", *TINY]
    main([*argv, "--out", str(whole)])

    real_lr_factor = _interrupt_in_epoch(monkeypatch, 3)
    with pytest.raises(SystemExit) as raised:
        main([*argv, "--out", str(cut), "--overwrite"])
    assert raised.value.code == 130
    assert "interrupted after 3 finished epoch(s)" in capsys.readouterr().err
    record = json.loads((cut / "results.json").read_text())
    assert record["status"] == "interrupted" and "old" not in record
    assert len(record["history"]["epoch_seconds"]) == 3 and record["results"] is None

    monkeypatch.setattr(train_module, "lr_factor", real_lr_factor)
    main(["train", "--resume", str(cut), "--quiet"])  # from the checkpoint of epoch 2
    resumed, uninterrupted = (json.loads((out / "results.json").read_text()) for out in (cut, whole))
    assert resumed["status"] == "complete"
    assert resumed["history"]["layer_loss"] == uninterrupted["history"]["layer_loss"]
    assert resumed["history"]["test_error"] == uninterrupted["history"]["test_error"]
    assert resumed["results"]["test_error"] == uninterrupted["results"]["test_error"]
    with pytest.raises(SystemExit, match="complete"):
        main(["train", "--resume", str(cut)])


def test_resume_rebuilds_the_run_from_its_record_not_from_todays_preset(tmp_path, monkeypatch):
    """The preset called "quick" changes between the run and its resumption: the resumed run still
    trains the recorded 784-1000 net with the recorded config."""
    out = tmp_path / "run"
    argv = ["train", "--preset", "quick", "--epochs", "2", "--checkpoint-every", "1", "--seed", "4", *TINY]
    real_lr_factor = _interrupt_in_epoch(monkeypatch, 1)
    with pytest.raises(SystemExit):
        main([*argv, "--out", str(out)])
    monkeypatch.setattr(train_module, "lr_factor", real_lr_factor)

    quick = PRESETS["quick"]
    changed = dataclasses.replace(
        quick,
        net=dataclasses.replace(quick.net, dims=(784, 7), threshold=1.0),
        train=FFConfig(epochs=5, batch_size=10, lr=0.5),
    )
    monkeypatch.setitem(PRESETS, "quick", changed)
    assert get_preset("quick").net.dims == (784, 7)  # a fresh run would train this one
    main(["train", "--resume", str(out), "--quiet"])
    record = json.loads((out / "results.json").read_text())
    assert record["status"] == "complete" and record["preset"] == "quick"
    assert record["net"]["dims"] == [784, 1000] and record["net"]["threshold"] == quick.net.threshold
    assert record["train"] == quick.train.replace(epochs=2, seed=4).to_dict()
    assert len(record["history"]["layer_loss"]) == 2
    checkpoint = torch.load(out / "checkpoint.pt", weights_only=True)
    assert checkpoint["net"]["layers.0.linear.weight"].shape == (1000, 784)


def test_an_out_folder_holding_another_run_needs_overwrite(tmp_path, monkeypatch):
    out = tmp_path / "run"
    out.mkdir()
    (out / "results.json").write_text('{"status": "complete", "old": true}')
    (out / "checkpoint.pt").write_bytes(b"old")
    with pytest.raises(SystemExit, match="another run's record; pass --overwrite"):
        main(["train", "--preset", "quick", "--out", str(out), *TINY])
    assert json.loads((out / "results.json").read_text())["old"]  # untouched

    # With --overwrite the old files go and the new run is recorded (it stops at its first epoch here).
    _interrupt_in_epoch(monkeypatch, 0, RuntimeError("stop here"))
    with pytest.raises(RuntimeError, match="stop here"):
        main(["train", "--preset", "quick", "--out", str(out), "--overwrite", *TINY])
    record = json.loads((out / "results.json").read_text())
    assert "old" not in record and record["preset"] == "quick"
    assert not (out / "checkpoint.pt").exists()


def test_an_out_folder_with_other_files_is_refused_even_with_overwrite(tmp_path, monkeypatch):
    _no_training(monkeypatch)
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("precious")
    for extra in ([], ["--overwrite"]):
        with pytest.raises(SystemExit, match=r"holds other files \(notes.txt"):
            main(["train", "--preset", "quick", "--out", str(out), *extra, *TINY])
    assert (out / "notes.txt").read_text() == "precious" and sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_a_run_that_raises_is_recorded_as_failed(tmp_path, monkeypatch):
    out = tmp_path / "run"
    _interrupt_in_epoch(monkeypatch, 1, RuntimeError("the step broke"))
    with pytest.raises(RuntimeError, match="the step broke"):
        main(["train", "--preset", "quick", "--epochs", "3", "--out", str(out), *TINY])
    record = json.loads((out / "results.json").read_text())
    assert record["status"] == "failed" and record["status"] in STATUSES
    assert record["error"] == "RuntimeError: the step broke"
    assert len(record["history"]["epoch_seconds"]) == 1 and record["results"] is None


def test_resume_refuses_a_record_of_another_schema(tmp_path):
    for schema in (1, None):
        out = tmp_path / f"schema-{schema}"
        out.mkdir()
        record = {"status": "interrupted", "preset": "quick"} | ({} if schema is None else {"schema": schema})
        (out / "results.json").write_text(json.dumps(record))
        torch.save({"net": {}, "optimizer": {}, "history": {}}, out / "checkpoint.pt")
        with pytest.raises(SystemExit, match=f"schema {schema!r}, this ffbook writes {SCHEMA}; start a new run"):
            main(["train", "--resume", str(out), "--device", "cpu"])


def test_resume_takes_no_settings_of_its_own(capsys, tmp_path):
    message = _usage_error(["train", "--resume", str(tmp_path), "--epochs", "3"], capsys)
    assert "a resumed run keeps its recorded settings and folder; drop --epochs" in message
    message = _usage_error(["train", "--resume", str(tmp_path), "--out", str(tmp_path / "elsewhere")], capsys)
    assert "drop --out" in message
    message = _usage_error(["train", "--resume", str(tmp_path), "--overwrite", "--preset", "quick"], capsys)
    assert "drop --preset, --overwrite" in message
    with pytest.raises(SystemExit, match="no results.json"):
        main(["train", "--resume", str(tmp_path)])


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--preset", "nope"],
        ["train", "--preset", "quick", "--epochs", "0"],
        ["train", "--preset", "quick", "--device", "tpu"],
        ["train"],
        ["train", "--preset", "quick", "--seed", "-1"],
        ["train", "--preset", "quick", "--step", "fast"],
        ["train", "--preset", "quick", "--no-tf32"],
    ],
)
def test_bad_arguments_exit_with_an_error(argv):
    with pytest.raises(SystemExit) as raised:
        main(argv)
    assert raised.value.code == 2  # argparse's status for a usage error


def _usage_error(argv, capsys) -> str:
    with pytest.raises(SystemExit) as raised:
        main(argv)
    assert raised.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("usage: python -m ffbook train")
    return captured.err


@pytest.mark.parametrize("option", ["--out", "--resume"])
def test_an_empty_folder_name_is_a_usage_error(capsys, monkeypatch, option):
    _no_training(monkeypatch)
    message = _usage_error(["train", "--preset", "quick", option, "", "--device", "cpu"], capsys)
    assert f"argument {option}: expected a folder name, got an empty string" in message


@pytest.mark.parametrize(
    ("option", "value", "limit"), [("--train-size", "1000000", "60000"), ("--test-size", "10001", "10000")]
)
def test_more_images_than_mnist_has_is_a_usage_error(capsys, monkeypatch, option, value, limit):
    _no_training(monkeypatch)
    message = _usage_error(["train", "--preset", "quick", option, value, "--device", "cpu"], capsys)
    assert f"argument {option}: MNIST has {limit} such images, got {value}" in message


def test_batch_size_with_the_greedy_full_batch_preset_is_a_usage_error(capsys, monkeypatch):
    import ffbook.ff

    def no_data(*args, **kwargs):
        raise AssertionError("the options must be refused before any data is loaded")

    monkeypatch.setattr(ffbook.ff, "mnist_tensors", no_data)
    message = _usage_error(["train", "--preset", "keras-io", "--batch-size", "100", "--device", "cpu"], capsys)
    assert "python -m ffbook train: error: argument --batch-size:" in message
    assert "'keras-io'" in message and "no --batch-size" in message
    takers = message.split("presets that do:")[1]  # the presets that do take one: the mini-batch ones
    mini_batch = [name for name, preset in PRESETS.items() if isinstance(preset.train, FFConfig)]
    assert len(mini_batch) >= 2 and all(name in takers for name in mini_batch) and "keras-io" not in takers
    assert "Traceback" not in message


def test_any_config_error_becomes_a_usage_error_naming_the_options(capsys):
    message = _usage_error(["train", "--preset", "hinton-matlab", "--negatives", "hard", "--epochs", "3"], capsys)
    assert "error: the options (--epochs 3, --negatives hard) do not fit preset 'hinton-matlab'" in message
    assert "redraw='batch'" in message


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--preset", "keras-io", "--step", "compile"], "--step"),  # the greedy recipe runs eagerly
        (["--preset", "quick", "--negatives", "hard_readout"], "--negatives"),  # quick's net has no read-out
        (["--preset", "quick", "--step", "graph", "--device", "cpu"], "--step"),  # a CUDA graph needs CUDA
    ],
)
def test_options_that_cannot_run_with_the_preset_are_usage_errors_before_any_training(
    capsys, monkeypatch, tmp_path, options, named
):
    """Options ``fit`` would refuse are refused on the command line, before --out is touched."""
    import ffbook.ff

    def no_data(*args, **kwargs):
        raise AssertionError("the options must be refused before any data is loaded")

    monkeypatch.setattr(ffbook.ff, "mnist_tensors", no_data)
    message = _usage_error(["train", *options, "--out", str(tmp_path / "run"), "--quiet"], capsys)
    assert named in message and "Traceback" not in message
    assert not (tmp_path / "run").exists()


def test_non_integer_and_non_positive_sizes_name_the_option(capsys):
    message = _usage_error(["train", "--preset", "quick", "--train-size", "-5"], capsys)
    assert "argument --train-size: expected a positive integer, got -5" in message
    message = _usage_error(["train", "--preset", "quick", "--batch-size", "ten"], capsys)
    assert "argument --batch-size: expected a positive integer, got 'ten'" in message
