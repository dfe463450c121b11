"""Which installed distributions a process imported, and whether the GPU machine will have them.

``bench/gpu.py --dry-run`` and the processes it starts call ``record`` when ``FFBOOK_IMPORTS_OUT``
names a folder; ``python bench/gpu_imports.py FOLDER`` then checks every recorded distribution
against ``bench/gpu/device-packages.txt`` (on the machine already) and ``bench/gpu/wheels.txt``
(carried as wheels), so that nothing missing is discovered on the GPU. ``optional-here.txt`` lists
what third-party code imports here only because it is installed here (TensorFlow, Jupyter, pytest
plugins of the dev extra): those are not needed there.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import pathlib
import re
import sys

HERE = pathlib.Path(__file__).resolve().parent
LOCAL = {"ffbook", "bench", "tests", "conftest", "gpu", "ff_keras", "gpu_imports", "test_ff_gpu"}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def imported_distributions() -> set[str]:
    """Distributions (normalised names) behind the top-level modules loaded in this process."""
    owners = importlib.metadata.packages_distributions()
    names = set()
    for module in list(sys.modules):
        top = module.partition(".")[0]
        if top in sys.stdlib_module_names or top in LOCAL or top.startswith("_"):
            continue
        names.update(_normalise(owner) for owner in owners.get(top, []))
    return names


def record(tag: str) -> None:
    """Write this process's imported distributions to $FFBOOK_IMPORTS_OUT/imports-TAG.json (if set)."""
    folder = os.environ.get("FFBOOK_IMPORTS_OUT")
    if folder:
        path = pathlib.Path(folder) / f"imports-{tag}.json"
        path.write_text(json.dumps(sorted(imported_distributions())))


def _listed(path: pathlib.Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            names.add(_normalise(re.split(r"[=<>!~ ]", line)[0]))
    return names


def check(folder: pathlib.Path) -> int:
    available = set()
    for name in ("device-packages.txt", "wheels.txt", "optional-here.txt"):
        available |= _listed(HERE / "gpu" / name)
    records = sorted(folder.glob("imports-*.json"))
    expected = {"imports-gpu.json", "imports-keras.json", "imports-pytest.json"}
    missing_records = expected - {path.name for path in records}
    if missing_records:
        print(f"gpu imports: no record from {sorted(missing_records)} (did every step run?)")
        return 1
    problems = {}
    for path in records:
        unknown = set(json.loads(path.read_text())) - available
        if unknown:
            problems[path.name] = sorted(unknown)
    if problems:
        print("gpu imports: these distributions are neither on the GPU machine nor carried as wheels:")
        for name, unknown in problems.items():
            print(f"  {name}: {', '.join(unknown)}")
        print("add them to bench/gpu/wheels.txt (or device-packages.txt if the machine has them)")
        return 1
    print(f"gpu imports: every distribution imported by {len(records)} processes is available there")
    return 0


if __name__ == "__main__":
    sys.exit(check(pathlib.Path(sys.argv[1])))
