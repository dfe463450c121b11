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
    assert raised.value.code != 0
