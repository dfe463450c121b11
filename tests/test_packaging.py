"""pyproject.toml and environment.yml name the same dependencies; the light core install; the package's
light top level."""

from __future__ import annotations

import pathlib
import tomllib

import pytest
import yaml

import ffbook

ROOT = pathlib.Path(__file__).resolve().parents[1]


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_environment_yml_names_the_same_dependencies_as_pyproject():
    project = pyproject()["project"]
    extras = project["optional-dependencies"]
    # `make env` installs ".[book,dev]"; the book extra pulls in the keras extra (ffbook[keras]).
    expected = set(project["dependencies"]) | set(extras["keras"]) | set(extras["book"]) | set(extras["dev"])
    expected.discard("ffbook[keras]")
    assert "ffbook[keras]" in extras["book"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    listed = {line for line in pip_section if line != "-e ."}
    assert listed == expected
    assert "python=3.11" in env["dependencies"]
    assert env["channels"] == ["conda-forge"]


def test_dev_extra_installs_what_the_tests_import():
    from packaging.requirements import Requirement

    lines = pyproject()["project"]["optional-dependencies"]["dev"]
    dev = {Requirement(line).name.lower(): Requirement(line) for line in lines}
    # pytest-socket blocks the network, selenium drives Chromium, pyyaml reads _toc.yml and
    # environment.yml, packaging parses requirements.
    for name in ("pytest", "pytest-socket", "nbval", "selenium", "pyyaml", "packaging"):
        assert name in dev, f"the dev extra lacks {name}"
    assert all(requirement.marker is None for requirement in dev.values())


def test_no_exact_pins_of_the_frameworks():
    from packaging.requirements import Requirement

    project = pyproject()["project"]
    lines = project["dependencies"] + project["optional-dependencies"]["keras"]
    for line in lines:
        specifiers = Requirement(line).specifier
        assert all(spec.operator == ">=" for spec in specifiers), f"{line}: only lower bounds (Colab ships its own)"


def test_python_and_version():
    project = pyproject()["project"]
    # 3.11: what `make env` and environment.yml use; Colab is 3.12 (tools/colab_ci.sh). See README.
    assert project["requires-python"] == ">=3.11"
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


def _global_draws() -> tuple:
    import random

    import numpy as np
    import torch

    return random.random(), np.random.rand(), torch.rand(1).item()  # noqa: NPY002


@pytest.mark.parametrize("numpy_int", ["int64", "uint32", "int8"])
def test_seed_everything_takes_numpy_integers_as_the_same_seed(numpy_int):
    import numpy as np

    ffbook.seed_everything(3)
    expected = _global_draws()
    ffbook.seed_everything(np.dtype(numpy_int).type(3))
    assert _global_draws() == expected


@pytest.mark.parametrize("seed", [2**32, 2**40 + 7, 2**63 - 1])
def test_seed_everything_takes_every_seed_up_to_2_to_the_63(seed):
    # NumPy's global generator takes 32 bits only, and torch's CPU generator uses the low 32 bits:
    # a large seed must still be repeatable and must not act as the small seed seed % 2**32.
    import random

    ffbook.seed_everything(seed)
    first = _global_draws()
    ffbook.seed_everything(seed)
    assert _global_draws() == first
    random.seed(seed)
    assert random.random() == first[0]  # Python's generator takes the seed itself
    ffbook.seed_everything(seed % 2**32)
    assert all(cut != full for cut, full in zip(_global_draws(), first, strict=True))


@pytest.mark.parametrize(
    ("seed", "error"), [(1.5, TypeError), (True, TypeError), ("3", TypeError), (-1, ValueError), (2**63, ValueError)]
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


# ---------------------------------------------------------------- the core install, alone


def _closure(names: list[str]) -> list:
    """The installed distributions ``names`` need, with everything they require (no extras)."""
    import importlib.metadata

    from packaging.requirements import Requirement

    seen, todo = {}, list(names)
    while todo:
        name = todo.pop()
        dist = importlib.metadata.distribution(name)
        key = dist.metadata["Name"].lower().replace("_", "-")
        if key in seen:
            continue
        seen[key] = dist
        for line in dist.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return list(seen.values())


def test_the_core_install_alone_imports_ffbook_ff_and_needs_no_keras(tmp_path):
    """Install ffbook without extras into a fresh venv, offline, and import what the core promises.

    The wheel is built from this checkout and installed with ``--no-index --no-deps``. The core's
    dependencies, and theirs (by their metadata), are made visible from this environment through a
    folder of links that holds only those distributions: nothing is downloaded, and an import of
    anything else (Keras, TensorFlow, ipywidgets, IPython) fails in that venv as it would after a
    real ``pip install ffbook``.
    """
    import subprocess
    import sys

    from packaging.requirements import Requirement

    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    core = [Requirement(line).name for line in pyproject()["project"]["dependencies"]]
    assert sorted(core) == ["matplotlib", "numpy", "torch", "tqdm"]

    deps = tmp_path / "deps"
    deps.mkdir()
    for dist in _closure(core):
        for top in {pathlib.PurePath(str(f)).parts[0] for f in dist.files or []} - {"..", "__pycache__"}:
            link = deps / top
            if not link.exists():
                link.symlink_to(pathlib.Path(str(dist.locate_file(top))))
    wheels = tmp_path / "wheels"
    build = [*pip, "wheel", "--quiet", "--no-deps", "--no-index", "--no-build-isolation", "-w", str(wheels), str(ROOT)]
    subprocess.run(build, check=True, capture_output=True)
    (wheel,) = wheels.glob("ffbook-*.whl")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    install = [*pip, "--python", python, "install", "--quiet", "--no-index", "--no-deps", str(wheel)]
    subprocess.run(install, check=True, capture_output=True)
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    pathlib.Path(site, "core-deps.pth").write_text(f"{deps}\n")

    # pip's own verdict: every requirement of ffbook's core (and of its dependencies) is met there.
    check = subprocess.run([*pip, "--python", python, "check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    code = """
import importlib.metadata, importlib.util, sys
import ffbook, ffbook.ff, ffbook.calculus, ffbook.backprop, ffbook.data, ffbook.metrics
net = ffbook.ff.FFNet([784, 20])
assert ffbook.__file__.startswith(sys.prefix), ffbook.__file__  # the installed copy, not this checkout
missing = [name for name in ("keras", "tensorflow", "ipywidgets", "IPython") if importlib.util.find_spec(name) is None]
print(sorted(missing), sorted(importlib.metadata.requires("ffbook")))
"""
    run = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    missing, requires = run.stdout.splitlines()[-1].split("] ", 1)
    assert missing == "['IPython', 'ipywidgets', 'keras', 'tensorflow'"
    assert "tensorflow-cpu" in requires and "extra == \"keras\"" in requires  # only as an extra
