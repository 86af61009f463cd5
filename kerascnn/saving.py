"""Loading models, and room for Keras to walk very deep graphs.

Keras builds a Functional model's graph map with a recursive depth-first walk, one Python frame per
layer on the longest path (`keras/src/ops/function.py`, `_build_map_helper`). The CIFAR ResNet-1202
(4,213 Keras layers) and pre-activation ResNet-1001 (3,342) go past Python's default limit of 1,000
frames, both when they are built and when they are loaded. `kerascnn.build`, `build_from_spec` and
`kerascnn.load_model` raise the limit for the duration of that walk; calling plain
`keras.saving.load_model` on such a model needs `sys.setrecursionlimit(20_000)` first. Calling,
training, predicting and saving need nothing.
"""

from __future__ import annotations

import contextlib
import sys

# Frames for the deepest graphs the zoo has (4,213 layers) with room to spare; Python 3.11+ spends no
# C stack on Python-to-Python calls, so this is safe on an 8 MiB main-thread stack.
DEEP_GRAPH_RECURSION_LIMIT = 30_000


@contextlib.contextmanager
def recursion_headroom(limit: int = DEEP_GRAPH_RECURSION_LIMIT):
    """Raise Python's recursion limit to at least `limit` inside the block, then restore it."""
    old = sys.getrecursionlimit()
    if old >= limit:
        yield
        return
    sys.setrecursionlimit(limit)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def load_model(path, *, safe_mode: bool = True, **kwargs):
    """`keras.saving.load_model` with `safe_mode=True` and room for the deepest graphs.

    kerascnn's own layers and learning-rate schedule (in a checkpoint's optimizer) are registered
    with Keras on import, so they need no `custom_objects`.
    """
    import keras

    import kerascnn.layers  # noqa: F401  (registers the toolkit's layers and activations)
    import kerascnn.train.schedules  # noqa: F401  (a checkpoint's optimizer uses EpochSchedule)

    with recursion_headroom():
        return keras.saving.load_model(path, safe_mode=safe_mode, **kwargs)
