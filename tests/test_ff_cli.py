"""``python -m ffbook train``: a tiny run writes the JSON record and the three figures."""

from __future__ import annotations

import json

import pytest

from ffbook.__main__ import main

TINY = ["--device", "cpu", "--train-size", "600", "--test-size", "300", "--quiet"]


def test_tiny_training_run_writes_results_and_figures(tmp_path, capsys):
    out = tmp_path / "run"
    main(["train", "--preset", "quick", "--epochs", "2", "--out", str(out), "--seed", "3", *TINY])
    record = json.loads((out / "results.json").read_text())
    assert record["status"] == "complete" and record["preset"] == "quick"
    assert record["train"]["epochs"] == 2 and record["train"]["seed"] == 3
    assert record["net"]["dims"] == [784, 1000]
    assert record["environment"]["device"] == "cpu" and "torch" in record["environment"]
    history = record["history"]
    assert len(history["layer_loss"]) == 2 and all(len(row) == 1 for row in history["layer_loss"])
    assert history["test_epochs"][-1] == 2
    results = record["results"]
    assert results["train_size"] == 600 and results["test_size"] == 300
    assert results["test_error"] == pytest.approx(history["test_error"][-1])
    for name in ("loss_per_layer.png", "goodness.png", "test_error.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(record["figures"]) == ["goodness.png", "loss_per_layer.png", "test_error.png"]
    assert (out / "checkpoint.pt").is_file() and not list(out.glob("*.tmp"))
    printed = capsys.readouterr().out
    assert "test error" in printed and "results.json" in printed


def test_an_unwritable_out_folder_is_refused_before_training(tmp_path, monkeypatch):
    import ffbook.ff

    def no_training(*args, **kwargs):
        raise AssertionError("nothing may be trained when --out cannot be written")

    monkeypatch.setattr(ffbook.ff, "train", no_training)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(SystemExit, match="cannot be written"):
        main(["train", "--preset", "quick", "--out", str(blocker / "run"), *TINY])


def test_an_interrupted_run_keeps_its_epochs_and_resumes_to_the_same_numbers(tmp_path, monkeypatch, capsys):
    """Ctrl-C during epoch 4 of 4: the record says interrupted; --resume gives the uninterrupted numbers."""
    from ffbook.ff import training

    whole, cut = tmp_path / "whole", tmp_path / "cut"
    (cut / "results.json").parent.mkdir()
    (cut / "results.json").write_text('{"status": "complete", "old": true}')  # an older run's record
    argv = ["train", "--preset", "quick", "--epochs", "4", "--checkpoint-every", "2", *TINY]
    main([*argv, "--out", str(whole)])

    real_learning_rate = training.learning_rate

    def interrupt_in_epoch_four(config, epoch, base=None):
        if epoch == 3:
            raise KeyboardInterrupt
        return real_learning_rate(config, epoch, base)

    monkeypatch.setattr(training, "learning_rate", interrupt_in_epoch_four)
    with pytest.raises(SystemExit) as raised:
        main([*argv, "--out", str(cut)])
    assert raised.value.code == 130
    assert "interrupted after 3 finished epoch(s)" in capsys.readouterr().err
    record = json.loads((cut / "results.json").read_text())
    assert record["status"] == "interrupted" and "old" not in record
    assert len(record["history"]["epoch_seconds"]) == 3 and record["results"] is None

    monkeypatch.setattr(training, "learning_rate", real_learning_rate)
    main(["train", "--resume", str(cut), "--quiet"])  # from the checkpoint of epoch 2
    resumed, uninterrupted = (json.loads((out / "results.json").read_text()) for out in (cut, whole))
    assert resumed["status"] == "complete"
    assert resumed["history"]["layer_loss"] == uninterrupted["history"]["layer_loss"]
    assert resumed["history"]["test_error"] == uninterrupted["history"]["test_error"]
    assert resumed["results"]["test_error"] == uninterrupted["results"]["test_error"]
    with pytest.raises(SystemExit, match="complete"):
        main(["train", "--resume", str(cut)])


def test_resume_takes_no_settings_of_its_own(capsys, tmp_path):
    message = _usage_error(["train", "--resume", str(tmp_path), "--epochs", "3"], capsys)
    assert "a resumed run keeps its recorded settings; drop --epochs" in message
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


def test_batch_size_with_the_greedy_full_batch_preset_is_a_usage_error(capsys, monkeypatch):
    import ffbook.ff

    def no_data(*args, **kwargs):
        raise AssertionError("the options must be refused before any data is loaded")

    monkeypatch.setattr(ffbook.ff, "mnist_tensors", no_data)
    message = _usage_error(["train", "--preset", "keras-io", "--batch-size", "100", "--device", "cpu"], capsys)
    assert "python -m ffbook train: error: argument --batch-size:" in message
    assert "'keras-io'" in message and "no --batch-size" in message
    assert "hinton-2022, quick" in message  # the presets that do take one
    assert "Traceback" not in message


def test_any_config_error_becomes_a_usage_error_naming_the_options(capsys):
    message = _usage_error(["train", "--preset", "keras-io", "--step", "compile", "--epochs", "3"], capsys)
    assert "error: the options (--epochs 3, --step compile) do not fit preset 'keras-io'" in message
    assert "applies to the simultaneous schedule only" in message


def test_non_integer_and_non_positive_sizes_name_the_option(capsys):
    message = _usage_error(["train", "--preset", "quick", "--train-size", "-5"], capsys)
    assert "argument --train-size: expected a positive integer, got -5" in message
    message = _usage_error(["train", "--preset", "quick", "--batch-size", "ten"], capsys)
    assert "argument --batch-size: expected a positive integer, got 'ten'" in message
