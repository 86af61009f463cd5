"""What kerascnn needs of Keras beyond its public API, in this one module: room for Keras' recursion
on very deep graphs (`recursion_headroom`), variables created without TensorFlow's per-layer name
scopes (`plain_variable_scopes`), a compiled model's training state built before its first step
(`symbolic_build`, `build_training_state`), and the dtype of the backend's stateless seeds
(`random_seed_dtype`). What reaches into Keras' internals falls back to Keras' own behaviour, with
a warning once, when a Keras release lays them out otherwise (slower, never wrong).

Keras builds a Functional model's graph map with a recursive depth-first walk, one Python frame per
layer on the longest path (`keras/src/ops/function.py`, `_build_map_helper`): the 1,000-layer CIFAR
ResNets go past Python's default limit of 1,000 frames when they are built and loaded, so
`kerascnn.build`, `build_from_spec` and `kerascnn.load_model` raise it for that walk (plain
`keras.saving.load_model` on such a model needs `sys.setrecursionlimit(20_000)` first). Inside a
layer's `tf.name_scope` each new variable misses TensorFlow's eager kernel cache; nothing in Keras 3
reads those scoped names (weights are found by their Keras paths, which do not change). What each
costs and saves is measured in BENCHMARKS.md ("the trainer's start-up", "build times").
"""

from __future__ import annotations

import contextlib
import sys

__all__ = [
    "plain_variable_scopes",
    "random_seed_dtype",
    "recursion_headroom",
    "symbolic_build",
    "build_training_state",
    "producing_layer",
    "producing_node",
    "DEEP_GRAPH_RECURSION_LIMIT",
]

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


def symbolic_build(model, data_batch) -> None:
    """Keras' `Trainer._symbolic_build(data_batch=...)`: a compiled model's metric and loss
    variables made from symbolic tensors of a batch's shapes, before the first train step (what
    Keras itself runs first under a distribution strategy and on JAX). Without it (another Keras), a
    warning once and nothing: Keras then makes them in the first step, a second trace on TensorFlow."""
    build = getattr(model, "_symbolic_build", None)
    if build is None:
        _warn_once(
            "symbolic_build",
            "build_training_state",
            "producing_layer",
            "producing_node",
            "kerascnn could not build a model's training state ahead of its first step (this "
            "Keras has no Trainer._symbolic_build): the same training, one more trace of the "
            "first step on TensorFlow.",
        )
        return
    build(data_batch=data_batch)


def producing_layer(tensor):
    """The layer whose output a symbolic tensor of a Functional graph is (Keras' `_keras_history`),
    or None for a tensor that is no layer's output."""
    history = getattr(tensor, "_keras_history", None)
    return None if history is None else history[0]


def producing_node(tensor):
    """The graph node that made a symbolic tensor: its layer's call (`_inbound_nodes`) that gave
    it, with that call's inputs (`node.input_tensors`)."""
    operation, node_index, _ = tensor._keras_history
    return operation._inbound_nodes[node_index]


def build_training_state(model, dataset) -> None:
    """A compiled model's metric and loss variables made now, from a dataset's element spec
    (`symbolic_build`). Keras on TensorFlow makes them inside the first traced train step when no
    distribution strategy is set, and a `tf.function` whose first trace creates variables is traced
    a second time: every run would pay for two traces of its train step (BENCHMARKS.md)."""
    import keras
    from keras import tree

    batch = tree.map_structure(
        lambda spec: keras.KerasTensor(tuple(spec.shape), spec.dtype.name), dataset.element_spec
    )
    symbolic_build(model, batch)


_WARNED = []


def _warn_once(key: str, message: str) -> None:
    if key in _WARNED:
        return
    _WARNED.append(key)
    import warnings

    warnings.warn(message, RuntimeWarning, stacklevel=4)


def _unpatched(why: str) -> None:
    """Warn once that builds run unpatched (this Keras changed the internals the patch touches)."""
    _warn_once(
        "plain_variable_scopes",
        f"kerascnn builds models without its TensorFlow speed-up (plain_variable_scopes): "
        f"this Keras lays out its backend differently ({why}). Models are the same; "
        f"building deep ones is slower.",
    )


def random_seed_dtype() -> str:
    """The dtype of a stateless seed on the Keras backend (uint32 on JAX, int64 on TensorFlow): what
    `keras.random`'s functions take from a `SeedGenerator` (`kerascnn.data.mixing`)."""
    from keras.src import backend

    return backend.random_seed_dtype()
