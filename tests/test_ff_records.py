"""ffbook.ff.records: the recorded GPU runs chapter 9 shows, in the format bench/gpu.py writes."""

from __future__ import annotations

import json
import pathlib
import sys
import time

import pytest
import torch
from ff_toy import toy_data as _toy_data

from ffbook.ff import FFConfig, FFNetSpec, Preset
from ffbook.ff.records import KERAS_RUN, PAPER_RUN, environment, load_keras_record, load_record, summarise_runs

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "bench"))
import ff_torch  # noqa: E402  (bench/ff_torch.py: the CPU benchmark's records)
import gpu  # noqa: E402  (bench/gpu.py: the writer of the records)


def test_a_record_written_by_the_gpu_script_loads_and_summarises(tmp_path):
    x, y = _toy_data()
    spec = FFNetSpec(
        dims=(40, 16, 16),
        threshold=1.0,
        sharpness=16.0,
        norm="rms",
        on_value=4.0,
        first_scored_layer=1,
        readout="torch",
    )
    preset = Preset("toy", spec, FFConfig(epochs=2, batch_size=20, negatives="hard_readout"), "a toy")
    entry = gpu.run_preset(preset, preset.train, "cpu", ((x, y), (x, y)), time.perf_counter() + 60, 1, False)
    recorder = gpu.Recorder(tmp_path, {"environment": environment("cpu"), "runs": {}})
    recorder.add("toy-seed0", entry)
    record = load_record(tmp_path / "gpu-results.json")
    (row,) = summarise_runs(record)
    assert row["status"] == "complete" and row["epochs"] == 2 and row["negatives"] == "hard_readout"
    assert row["test_error"] == pytest.approx(100 * entry["history"]["test_error"][-1])
    assert len(row["layer_test_errors"]) == 2 and "readout_test_error" in row


def test_the_cpu_benchmark_writes_the_same_record(tmp_path):
    """bench/ff_torch.py's record is the GPU script's: ``load_record`` and ``summarise_runs`` read it, and
    its summary for people names its percentages."""
    x, y = _toy_data()
    spec = FFNetSpec(dims=(40, 16, 16), threshold=2.0, norm="rms", on_value=4.0)
    preset = Preset("toy", spec, FFConfig(epochs=2, batch_size=20), "a toy")
    runs = [ff_torch.run_seed(preset, preset.train.replace(seed=s), "cpu", ((x, y), (x, y)), False, 1) for s in (0, 1)]
    args = type("Args", (), {"out": str(tmp_path / "record.json")})()
    ff_torch._summarise(args, preset, preset.train, torch.device("cpu"), None, runs, [0.5])
    record = load_record(tmp_path / "record.json")
    rows = summarise_runs(record)
    assert [row["run"] for row in rows] == ["toy-seed0", "toy-seed1"] and [row["seed"] for row in rows] == [0, 1]
    assert record["test_error_percent_mean"] == pytest.approx(sum(row["test_error"] for row in rows) / 2)
    assert record["environment"]["load_average_before"] == [0.5]


def test_the_shipped_paper_sized_record():
    record = load_record()
    assert record["environment"]["device_name"] and record["environment"]["date_utc"]
    rows = {row["run"]: row for row in summarise_runs(record)}
    fast = [row for row in rows.values() if row["step"] == "graph" and row["negatives"] == "hard_readout"]
    assert sorted(row["seed"] for row in fast) == [0, 1, 2]
    assert all(row["epochs"] == 60 and len(row["layer_test_errors"]) == 4 for row in fast)
    assert PAPER_RUN.is_file() and PAPER_RUN.stat().st_size < 200_000  # it ships inside the package


def test_a_broken_record_is_refused_with_what_is_missing(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"environment": {}}))
    with pytest.raises(ValueError, match="no 'runs'"):
        load_record(path)
    run = {"status": "complete", "epochs_done": 1, "net": {}, "train": {}, "results": {}, "history": {"test_error": []}}
    path.write_text(json.dumps({"environment": {}, "runs": {"a": run}}))
    with pytest.raises(ValueError, match="history of run 'a' lacks"):
        load_record(path)
    with pytest.raises(FileNotFoundError):
        load_record(tmp_path / "missing.json")


def test_the_shipped_keras_record_in_the_format_bench_ff_keras_writes(tmp_path):
    record = load_keras_record()
    assert record["outer_epochs_done"] == 250 and record["dims"] == [784, 500, 500]
    assert record["test_accuracy"] == pytest.approx(1 - record["test_error"])
    assert KERAS_RUN.stat().st_size < 50_000
    broken = {key: value for key, value in record.items() if key != "test_accuracy"}
    (tmp_path / "k.json").write_text(json.dumps(broken))
    with pytest.raises(ValueError, match="test_accuracy"):
        load_keras_record(tmp_path / "k.json")
