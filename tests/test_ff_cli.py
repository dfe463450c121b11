"""``python -m ffbook train``: a tiny run writes the JSON record and the three figures."""

from __future__ import annotations

import json

import pytest

from ffbook.__main__ import main


def test_tiny_training_run_writes_results_and_figures(tmp_path, capsys):
    out = tmp_path / "run"
    main(
        ["train", "--preset", "quick", "--epochs", "2", "--device", "cpu", "--out", str(out)]
        + ["--train-size", "600", "--test-size", "300", "--quiet", "--seed", "3"]
    )
    record = json.loads((out / "results.json").read_text())
    assert set(record) == {"config", "environment", "history", "results", "figures"}
    assert record["config"]["name"] == "quick" and record["config"]["epochs"] == 2 and record["config"]["seed"] == 3
    assert record["environment"]["device"] == "cpu" and "torch" in record["environment"]
    history = record["history"]
    layers = len(record["config"]["dims"]) - 1
    assert len(history["layer_loss"]) == 2 and all(len(row) == layers for row in history["layer_loss"])
    assert history["test_epochs"][-1] == 2
    results = record["results"]
    assert results["train_size"] == 600 and results["test_size"] == 300
    assert 0.0 <= results["test_error"] <= 1.0
    assert results["test_error"] == pytest.approx(history["test_error"][-1])
    for name in ("loss_per_layer.png", "goodness.png", "test_error.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(record["figures"]) == ["goodness.png", "loss_per_layer.png", "test_error.png"]
    printed = capsys.readouterr().out
    assert "test error" in printed and "results.json" in printed


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--preset", "nope"],
        ["train", "--preset", "quick", "--epochs", "0"],
        ["train", "--preset", "quick", "--device", "tpu"],
        ["train"],
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


def test_any_config_error_becomes_a_usage_error_naming_the_options(capsys, monkeypatch):
    from ffbook.ff import training

    # A build that offers no bf16: FFConfig itself refuses --amp bf16 with a ValueError.
    monkeypatch.setattr(training, "AMP_MODES", ("none",))
    message = _usage_error(["train", "--preset", "quick", "--amp", "bf16", "--epochs", "3"], capsys)
    assert "error: the options (--epochs 3, --amp bf16) do not fit preset 'quick'" in message
    assert "amp must be one of ('none',), got 'bf16'" in message


def test_non_integer_and_non_positive_sizes_name_the_option(capsys):
    message = _usage_error(["train", "--preset", "quick", "--train-size", "-5"], capsys)
    assert "argument --train-size: expected a positive integer, got -5" in message
    message = _usage_error(["train", "--preset", "quick", "--batch-size", "ten"], capsys)
    assert "argument --batch-size: expected a positive integer, got 'ten'" in message
