"""What the backend computes on: its accelerators, the 16-bit float they compute in natively, and
the device in words for a run's log. Each backend is asked in its own terms (TensorFlow's physical
devices, `jax.devices()`, `torch.cuda`)."""

from __future__ import annotations

import os

import keras

__all__ = ["native_half", "cpu_has_bf16", "accelerators", "describe_device"]


def native_half() -> str | None:
    """The 16-bit float the training device computes in natively, or None."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            major = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability", (0, 0))[
                0
            ]
            return "bfloat16" if major >= 8 else "float16"
        return "bfloat16" if cpu_has_bf16() else None
    if backend == "jax":
        import jax

        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        if gpus:
            capability = str(getattr(gpus[0], "compute_capability", "8.0"))
            return "bfloat16" if int(capability.split(".")[0]) >= 8 else "float16"
        return "bfloat16" if any(d.platform == "tpu" for d in jax.devices()) else None
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return None


def cpu_has_bf16() -> bool:
    """Linux's CPU flags name AMX or AVX-512 BF16 (elsewhere: False, float32 is kept)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def accelerators() -> list[str]:
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return [d.name for d in tf.config.list_physical_devices("GPU")]
    if backend == "jax":
        import jax

        return [str(d) for d in jax.devices() if d.platform != "cpu"]
    if backend == "torch":
        import torch

        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return []


def describe_device() -> str:
    found = accelerators()
    if found:
        return f"{len(found)} accelerator(s) ({keras.backend.backend()})"
    return f"CPU ({os.cpu_count()} cores, {keras.backend.backend()})"
