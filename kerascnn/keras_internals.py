"""What building and loading networks needs beyond Keras: room for Keras' recursion on very deep
graphs, and variables created without TensorFlow's per-layer name scopes (a third faster builds).

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

`plain_variable_scopes` reaches into Keras' internals (`keras.src.backend.name_scope`); if a future
Keras lays them out otherwise, it warns once and builds as Keras does (slower, never wrong).
"""

from __future__ import annotations

import contextlib
import sys

__all__ = ["plain_variable_scopes", "recursion_headroom", "DEEP_GRAPH_RECURSION_LIMIT"]

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
    the other backends). Reentrant. If this Keras lays its backend out otherwise, a warning (once)
    and Keras' own behaviour."""
    try:
        import keras
        import keras.src.backend as backend
        from keras.src.backend.common.name_scope import name_scope as keras_scope
    except ImportError as e:
        _unpatched(f"{type(e).__name__}: {e}")
        yield
        return
    if keras.backend.backend() != "tensorflow":
        yield
        return
    original = getattr(backend, "name_scope", None)
    if original is keras_scope:  # inside another plain_variable_scopes
        yield
        return
    if original is None or not (isinstance(original, type) and issubclass(original, keras_scope)):
        _unpatched(
            f"keras.src.backend.name_scope is {original!r}, not a subclass of Keras' own name_scope"
        )
        yield
        return
    backend.name_scope = keras_scope
    try:
        yield
    finally:
        backend.name_scope = original


_WARNED = []


def _unpatched(why: str) -> None:
    """Warn once that builds run unpatched (this Keras changed the internals the patch touches)."""
    if _WARNED:
        return
    _WARNED.append(why)
    import warnings

    warnings.warn(
        f"kerascnn builds models without its TensorFlow speed-up (plain_variable_scopes): "
        f"this Keras lays out its backend differently ({why}). Models are the same; "
        f"building deep ones is slower.",
        RuntimeWarning,
        stacklevel=3,
    )
