"""The devices a run trains on: which 16-bit float the hardware computes in (`precision`), how many
batches a compiled call runs is in `kerascnn.training.compile`, the distribution across devices and
processes (`strategy_for`, `initialize_workers`), and the process set up for a run (`process`).
Chosen per machine by measurement (BENCHMARKS.md, "the trainer's defaults")."""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING

import keras

from kerascnn.backend.devices import describe_device, native_half
from kerascnn.data.choice import pipeline

if TYPE_CHECKING:
    from kerascnn.recipe import Recipe

__all__ = [
    "precision",
    "NoStrategy",
    "initialize_workers",
    "strategy_for",
    "process",
]


def precision(setting) -> str:
    """The dtype policy for `train.mixedprecision`.

    "auto": mixed precision where the device computes in 16 bits natively, float32 elsewhere:
    bfloat16 on GPUs that have it (compute capability 8.0 and later: A100, H100, RTX 30xx) and on
    CPUs with AMX or AVX-512 BF16 under TensorFlow (oneDNN; 12-15% faster on 2 cores,
    BENCHMARKS.md), float16 on older GPUs (Keras then scales the loss). True: the device's 16-bit
    type (bfloat16 where it has none). BN statistics and the classifier's softmax stay float32.
    """
    if setting is False:
        return "float32"
    half = native_half()
    if half is None and setting == "auto":
        return "float32"
    return f"mixed_{half or 'bfloat16'}"


def environment(precision: str, distribution: str) -> dict:
    """What a run ran on, for run.json and its report: versions, backend, device, precision."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    import numpy

    backend = keras.backend.backend()
    package = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(backend, backend)
    try:
        backend_version = version(package)
    except PackageNotFoundError:
        backend_version = "?"
    return {
        "python": platform.python_version(),
        "keras": keras.__version__,
        "backend": f"{backend} {backend_version}",
        "numpy": numpy.__version__,
        "platform": platform.platform(terse=True),
        "device": describe_device(),
        "precision": precision,
        "distribution": distribution,
    }


class NoStrategy:
    num_replicas_in_sync = 1

    def scope(self):
        import contextlib

        return contextlib.nullcontext()


def initialize_workers(recipe: Recipe) -> int | None:
    """`distribution = "multi_worker"`: join the other processes (JAX backend) before anything
    else touches a device; returns this process's id, None on a single process."""
    t = recipe.train
    if t.distribution != "multi_worker":
        return None
    backend = keras.backend.backend()
    if backend != "jax":
        raise recipe.error(
            ("train", "distribution"),
            (
                f"'multi_worker' runs keras.distribution across processes, which needs the JAX "
                f"backend; the backend is {backend}. tf.distribute.MultiWorkerMirroredStrategy "
                f"fails inside Keras 3's fit (keras-team/keras#20585)."
            ),
            hint="run with KERAS_BACKEND=jax.",
        )
    import jax

    # CPU all-reduce across processes (GPUs use NCCL regardless). Nothing may query the devices
    # before `initialize`.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    worker = t.worker if t.worker is not None else int(os.environ["KERAS_DISTRIBUTION_PROCESS_ID"])
    if not jax.distributed.is_initialized():
        keras.distribution.initialize(",".join(t.workers), len(t.workers), worker)
    return worker


def strategy_for(setting: str, recipe: Recipe):
    backend = keras.backend.backend()
    if setting == "mirrored" and backend != "tensorflow":
        raise recipe.error(
            ("train", "distribution"),
            f"'mirrored' is TensorFlow's MirroredStrategy; the backend is {backend}.",
            hint='use distribution = "auto" (keras.distribution.DataParallel on JAX).',
        )
    if setting == "none":
        return NoStrategy(), "none"
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        if setting == "mirrored" or len(gpus) > 1:
            # Several GPUs, else every logical CPU (tests split one CPU in two)
            devices = [d.name for d in gpus or tf.config.list_logical_devices("CPU")]
            strategy = tf.distribute.MirroredStrategy(devices=devices)
            return strategy, f"MirroredStrategy ({strategy.num_replicas_in_sync} replicas)"
    elif backend == "jax" and setting in ("auto", "multi_worker"):
        devices = keras.distribution.list_devices()
        if len(devices) > 1:
            # Keras shards a tf.data dataset across processes itself; the grain path's batches
            # are each process's share already (`kerascnn.data.feed.Feed`'s `shard`).
            keras.distribution.set_distribution(
                keras.distribution.DataParallel(
                    devices=devices, auto_shard_dataset=pipeline(recipe.data.pipeline) == "tf.data"
                )
            )
            import jax

            processes = jax.process_count()
            return NoStrategy(), (
                f"DataParallel ({len(devices)} devices"
                + (f", {processes} processes)" if processes > 1 else ")")
            )
    return NoStrategy(), "none"


@contextlib.contextmanager
def process(recipe: Recipe):
    """The process set up for a run of `recipe`: its workers joined (yields this process's worker
    index, None when it trains alone), the seed set, the dtype policy chosen (`precision`), and
    float32 again after the run."""
    worker = initialize_workers(recipe)
    keras.utils.set_random_seed(recipe.train.seed)
    keras.mixed_precision.set_global_policy(precision(recipe.train.mixed_precision))
    try:
        yield worker
    finally:
        keras.mixed_precision.set_global_policy("float32")
