"""Which input path a run uses: tf.data on the TensorFlow backend, grain (`kerascnn.data.feed`, no
TensorFlow) on JAX and PyTorch, or what a recipe's `data.pipeline` says. Each backend's default is
the faster of the two there (BENCHMARKS.md); decoding, resizing and checking images follow the
path: TensorFlow's ops on tf.data, Pillow and NumPy (`kerascnn.data.images`) on grain."""

from __future__ import annotations

from kerascnn.config import ConfigError
from kerascnn.config.installed import installed

__all__ = ["pipeline", "decoder", "PIPELINES"]

PIPELINES = ("auto", "tf.data", "grain")


def pipeline(setting: str = "auto") -> str:
    """ "tf.data" or "grain" for a recipe's `data.pipeline` ("auto": tf.data on the TensorFlow
    backend, grain on the others); a path whose library is not installed is one line."""
    import keras

    if setting == "auto":
        setting = "tf.data" if keras.backend.backend() == "tensorflow" else "grain"
    if setting == "tf.data" and not installed("tensorflow"):
        raise ConfigError(
            'data.pipeline = "tf.data" needs TensorFlow, which is not installed here.',
            hint='set data.pipeline = "grain" (or "auto"), or install tensorflow.',
        )
    if setting == "grain" and not installed("grain"):
        raise ConfigError(
            'the grain input path (data.pipeline = "grain", the default off the '
            "TensorFlow backend) needs the grain package, which is not installed "
            "here.",
            hint="pip install grain",
        )
    return setting


def decoder(setting: str = "auto") -> str:
    """ "tensorflow" or "pillow": what decodes image files on that path."""
    return "tensorflow" if pipeline(setting) == "tf.data" else "pillow"
