"""pyproject.toml and environment.yml name the same dependencies; the package's light top level."""

from __future__ import annotations

import pathlib

import pytest
import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, from PyPI (the dev extra installs it there)
    import tomli as tomllib

import ffbook

ROOT = pathlib.Path(__file__).resolve().parents[1]


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_yml_names_the_same_dependencies_as_pyproject():
    project = pyproject()["project"]
    expected = set(project["dependencies"]) | set(project["optional-dependencies"]["dev"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    listed = {line for line in pip_section if line != "-e ."}
    assert listed == expected
    assert "python=3.11" in env["dependencies"]
    assert env["channels"] == ["conda-forge"]


def test_dev_extra_installs_what_the_tests_import():
    from packaging.markers import Marker
    from packaging.requirements import Requirement

    lines = pyproject()["project"]["optional-dependencies"]["dev"]
    dev = {Requirement(line).name.lower(): Requirement(line) for line in lines}
    # pytest-socket blocks the network, selenium drives Chromium, pyyaml reads _toc.yml and
    # environment.yml, packaging parses requirements, tomli stands in for tomllib before 3.11.
    for name in ("pytest", "pytest-socket", "nbval", "selenium", "pyyaml", "packaging", "tomli"):
        assert name in dev, f"the dev extra lacks {name}"
    assert dev["tomli"].marker == Marker("python_version < '3.11'")
    assert dev["tomli"].marker.evaluate({"python_version": "3.10"})
    assert not dev["tomli"].marker.evaluate({"python_version": "3.11"})


def test_no_exact_pins_of_the_frameworks():
    from packaging.requirements import Requirement

    for line in pyproject()["project"]["dependencies"]:
        specifiers = Requirement(line).specifier
        assert all(spec.operator == ">=" for spec in specifiers), f"{line}: only lower bounds (Colab ships its own)"


def test_python_and_version():
    project = pyproject()["project"]
    assert project["requires-python"] == ">=3.10"
    assert project["version"] == ffbook.__version__


@pytest.mark.parametrize(("value", "quick"), [("1", True), ("true", True), ("YES", True), ("0", False), ("", False)])
def test_quick_mode_is_read_from_the_environment(monkeypatch, value, quick):
    monkeypatch.setenv("FFBOOK_QUICK", value)
    assert ffbook.is_quick() is quick
    assert ffbook.pick(full=60, quick=2) == (2 if quick else 60)


def test_quick_mode_unset_means_full(monkeypatch):
    monkeypatch.delenv("FFBOOK_QUICK", raising=False)
    assert ffbook.is_quick() is False


def test_unclear_quick_value_is_refused(monkeypatch):
    monkeypatch.setenv("FFBOOK_QUICK", "maybe")
    with pytest.raises(ValueError, match="FFBOOK_QUICK"):
        ffbook.is_quick()


def test_setup_notebook_reports_mode_and_device(monkeypatch, capsys):
    monkeypatch.setenv("FFBOOK_QUICK", "1")
    ffbook.setup_notebook()
    line = capsys.readouterr().out
    assert "mode: quick" in line and f"device: {ffbook.default_device()}" in line
    assert ffbook.notebook_info()["mode"] == "quick"


def test_seed_everything_makes_draws_repeatable():
    import random

    import numpy as np
    import torch

    ffbook.seed_everything(7)
    # The global generators are exactly what seed_everything seeds.
    first = (random.random(), np.random.rand(), torch.rand(1).item())  # noqa: NPY002
    ffbook.seed_everything(7)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first  # noqa: NPY002


@pytest.mark.parametrize(
    ("seed", "error"), [(1.5, TypeError), (True, TypeError), (-1, ValueError), (2**32, ValueError)]
)
def test_seed_everything_rejects_bad_seeds(seed, error):
    with pytest.raises(error, match="seed"):
        ffbook.seed_everything(seed)


def test_top_level_import_needs_only_the_standard_library():
    import subprocess
    import sys

    code = "import sys, ffbook; print(sorted({'numpy', 'torch', 'tensorflow', 'keras'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
