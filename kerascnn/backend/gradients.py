"""Gradients on every backend, in one place: `gradient(fn, x)` with the backend's own
differentiation (TensorFlow's GradientTape, `jax.grad`, `torch.autograd`), and the check that this
process runs a backend kerascnn differentiates on (Grad-CAM, saliency, guided backpropagation)."""

from __future__ import annotations

import keras
import numpy as np

from kerascnn.config import ConfigError

__all__ = ["GRADIENT_BACKENDS", "require_gradients", "gradient"]

GRADIENT_BACKENDS = ("tensorflow", "jax", "torch")


def require_gradients() -> str:
    """The backend, when kerascnn differentiates on it (TensorFlow, JAX, PyTorch); otherwise one
    line."""
    backend = keras.backend.backend()
    if backend not in GRADIENT_BACKENDS:
        raise ConfigError(
            f"gradient pictures (gradcam, saliency, guided) need the TensorFlow, "
            f"JAX or PyTorch backend; this process runs {backend!r}. Occlusion "
            f"works on any backend."
        )
    return backend


def gradient(fn, x) -> np.ndarray:
    """d fn / d x as float32 NumPy, with the backend's own differentiation (`fn` returns a
    scalar): TensorFlow's GradientTape, `jax.grad` or `torch.autograd`."""
    if keras.backend.backend() == "jax":
        import jax

        return np.asarray(jax.grad(fn)(keras.ops.convert_to_tensor(x)), "float32")
    if keras.backend.backend() == "torch":
        import torch

        x = keras.ops.convert_to_tensor(x).detach().requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(fn(x), x)
        return grad.detach().float().cpu().numpy()
    import tensorflow as tf

    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        value = fn(x)
    return np.asarray(tf.cast(tape.gradient(value, x), "float32"))
