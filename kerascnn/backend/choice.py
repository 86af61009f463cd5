"""Which Keras backend runs when nobody chose one, decided before Keras is imported (this module
imports only the standard library: `import kerascnn` runs it first)."""

from __future__ import annotations

import importlib.util
import json
import os
import sys

__all__ = ["choose_default"]


def choose_default() -> None:
    """Keras' default backend is TensorFlow (and Keras writes "tensorflow" into keras.json on its
    first import): where TensorFlow is not installed and neither `KERAS_BACKEND` nor keras.json
    names another backend, kerascnn asks Keras for JAX, else PyTorch, before Keras is imported
    (Keras itself would fail on its first import). The TensorFlow-free install (docs/devices.md)
    relies on it; the backend shows on each run's device line."""
    if "KERAS_BACKEND" in os.environ or "keras" in sys.modules:
        return
    if _found("tensorflow"):
        return
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json"), encoding="utf-8") as f:
            if json.load(f).get("backend", "tensorflow") != "tensorflow":
                return  # a backend chosen there
    except (OSError, ValueError, AttributeError):
        pass
    for backend, module in (("jax", "jax"), ("torch", "torch")):
        if _found(module):
            os.environ["KERAS_BACKEND"] = backend
            return


def _found(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
