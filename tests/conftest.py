"""Shared test configuration."""

from __future__ import annotations

import os

# Keras reads the backend once, at import; tests/keras is run once per backend by `make test`.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
