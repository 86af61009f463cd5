"""Loading models, and what building and loading very deep graphs needs: room for Keras' recursion,
and variables created without TensorFlow's per-layer name scopes.

Keras builds a Functional model's graph map with a recursive depth-first walk, one Python frame per
layer on the longest path (`keras/src/ops/function.py`, `_build_map_helper`). The CIFAR ResNet-1202
(4,213 Keras layers) and pre-activation ResNet-1001 (3,342) go past Python's default limit of 1,000
frames, both when they are built and when they are loaded. `kerascnn.build`, `build_from_spec` and
`kerascnn.load_model` raise the limit for the duration of that walk; calling plain
`keras.saving.load_model` on such a model needs `sys.setrecursionlimit(20_000)` first. Calling,
training, predicting and saving need nothing.

On TensorFlow, creating a variable inside a layer costs about 0.8 ms where a bare one costs 0.15 ms:
Keras opens a `tf.name_scope` per layer, the scoped name becomes the `debug_name` attribute of the
variable's `VarHandleOp`, and an attribute never seen before misses TensorFlow's eager kernel cache.
ResNet-1202 has 6,007 variables: 11.2 s to build, 7.2 s with the layers' TensorFlow name scopes left
out while the variables are made (`plain_variable_scopes`). Nothing in Keras 3 reads those names
(weights are found by their Keras paths, `stage1_block1_conv1/kernel`, which do not change); only the
TensorFlow-level `variable.value.name` is shorter (`kernel:0`).
"""

from __future__ import annotations

import contextlib
import sys

__all__ = ["load_model", "plain_variable_scopes", "recursion_headroom",
           "DEEP_GRAPH_RECURSION_LIMIT"]

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


@contextlib.contextmanager
def plain_variable_scopes():
    """Inside the block, Keras layers open only Keras' own name scopes, not TensorFlow's (a no-op on
    the other backends, or if this Keras lays its backend out differently). Reentrant."""
    try:
        import keras
        import keras.src.backend as backend
        from keras.src.backend.common.name_scope import name_scope as keras_scope
    except ImportError:
        yield
        return
    original = getattr(backend, "name_scope", None)
    if (keras.backend.backend() != "tensorflow" or original is None or original is keras_scope
            or not (isinstance(original, type) and issubclass(original, keras_scope))):
        yield
        return
    backend.name_scope = keras_scope
    try:
        yield
    finally:
        backend.name_scope = original


def load_model(path, *, safe_mode: bool = True, **kwargs):
    """`keras.saving.load_model` with `safe_mode=True` and room for the deepest graphs.

    kerascnn's own layers and learning-rate schedule (in a checkpoint's optimizer) are registered
    with Keras on import, so they need no `custom_objects`.
    """
    import keras

    import kerascnn.layers  # noqa: F401  (registers the toolkit's layers and activations)
    import kerascnn.train.schedules  # noqa: F401  (a checkpoint's optimizer uses EpochSchedule)

    with recursion_headroom(), plain_variable_scopes():
        return keras.saving.load_model(path, safe_mode=safe_mode, **kwargs)
