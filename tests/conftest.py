"""Shared helpers: tiny models around one block, parameter counts, the every-weight-learns check."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# What kerascnn remembers of checked image folders goes to a folder of the test session's own, not
# the user's ~/.cache/kerascnn (kerascnn.data.folder.cache_folder).
os.environ.setdefault("KERASCNN_CACHE", __import__("tempfile").mkdtemp(prefix="kerascnn-tests-"))
if "PYTEST_XDIST_WORKER_COUNT" in os.environ:
    # Each pytest-xdist worker gets its share of the cores, rather than every worker's TensorFlow,
    # PyTorch (OpenMP) and XLA starting a thread per core: on 2 cores and 2 workers the suite is 9%
    # faster (TensorFlow), and a PyTorch process beside a busy worker 1.7 times faster (OpenMP's
    # threads wait for a core the other worker holds). Processes the tests start (notebook kernels,
    # `kerascnn train`, the runs without TensorFlow) inherit it.
    _share = max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    for _var in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
        os.environ.setdefault(_var, str(_share))
    if _share == 1:  # JAX's compiled CPU programs on one thread too
        os.environ.setdefault(
            "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        )

import contextlib  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402


def params(model) -> tuple[int, int]:
    """(trainable, non-trainable) parameter counts."""
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    frozen = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    return trainable, frozen


def block_model(fn, input_shape, name="blk", **kwargs):
    """A Functional model wrapping one block call."""
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, fn(inputs, name=name, **kwargs))


def layer_types(model, skip_input=True) -> list[str]:
    return [
        type(layer).__name__
        for layer in model.layers
        if not (skip_input and isinstance(layer, keras.layers.InputLayer))
    ]


def assert_every_weight_learns(model, batch=2, seed=0):
    """One SGD step on random data changes every trainable weight, and the forward is finite."""
    rng = np.random.default_rng(seed)
    inputs = model.inputs if isinstance(model.inputs, list) else [model.inputs]
    x = [rng.standard_normal((batch, *t.shape[1:])).astype("float32") for t in inputs]
    outputs = model.outputs
    y = [rng.standard_normal((batch, *t.shape[1:])).astype("float32") for t in outputs]
    x = x[0] if len(x) == 1 else x
    y = y[0] if len(y) == 1 else y
    pred = model.predict(x, verbose=0)
    for p in pred if isinstance(pred, list) else [pred]:
        assert np.all(np.isfinite(p)), "forward pass is not finite"
    before = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    model.train_on_batch(x, y)
    stuck = [
        w.path
        for w, b in zip(model.trainable_weights, before)
        if np.array_equal(keras.ops.convert_to_numpy(w), b)
    ]
    assert not stuck, f"these weights got no gradient: {stuck}"


# Holds a directory's lock, as a running `kerascnn train` or `tune` does, until killed.
_HOLD = """
import sys, time
from kerascnn.runs.rundir import DirectoryLock
DirectoryLock(sys.argv[1]).acquire()
print("held", flush=True)
time.sleep(600)
"""


@contextlib.contextmanager
def held_by_another_process(directory):
    """`with held_by_another_process(path) as holder`: the directory's one-writer lock held by
    another process (`holder.pid`) for the block; killed after it (SIGKILL: its lock is released
    by the operating system, as a killed run's is)."""
    directory.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(directory)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        holder.kill()
        holder.wait()


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)
    yield
    keras.backend.clear_session(free_memory=False)  # its gc.collect cost 0.3 s a test


def pytest_collection_modifyitems(config, items):
    """Slow tests first: with `pytest -n auto`, the long ones start at once instead of leaving one
    worker busy at the end while the others idle (the suite's wall time on 2 cores)."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
