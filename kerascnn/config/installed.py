"""Whether an optional library is here: TensorFlow (the tf.data path, TensorBoard logs, SavedModel
and LiteRT export), grain (the other input path), jax2onnx, torch. Asked before anything imports
it, so that a machine without it gets one line naming it rather than a traceback."""

from __future__ import annotations

import importlib.util
import sys

__all__ = ["installed"]


def installed(module: str) -> bool:
    """True when `module` is imported already or can be found; False when it cannot (a finder
    that refuses it counts as absent)."""
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
