"""Shared test configuration: the Keras backend, and the network blocked for every test run."""

from __future__ import annotations

import os

import pytest

# Keras reads the backend once, at import; tests/keras is run once per backend by `make test`.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Block the network as if ``--disable-socket --allow-unix-socket`` had been passed.

    So a plain ``pytest tests/test_data.py`` runs offline, exactly like ``make unit``.
    Runs before pytest-socket reads its options. Tests that must talk to localhost
    (tests/site) opt in with ``pytest.mark.allow_hosts``; ``--force-enable-socket``
    still overrides everything.
    """
    if config.pluginmanager.hasplugin("socket"):  # pytest-socket, from the dev extra
        config.option.disable_socket = True
        config.option.allow_unix_socket = True


def pytest_sessionfinish(session: pytest.Session) -> None:
    """``make gpu DRY_RUN=1`` records what a test run imports (bench/gpu_imports.py)."""
    if os.environ.get("FFBOOK_IMPORTS_OUT"):
        import sys

        sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench"))
        import gpu_imports

        gpu_imports.record("pytest")
