"""What the weight ports (`kerascnn.zoo.weights.applications` for keras.applications,
`kerascnn.zoo.weights.timm` for timm) share: adapting a network's first convolution to another
number of input channels."""

from __future__ import annotations

import math

import numpy as np

from kerascnn.config import ConfigError

__all__ = ["adapt_input_channels"]


def adapt_input_channels(kernel, channels: int, name: str):
    """timm's `adapt_input_conv`: sum RGB filters for one channel; repeat and rescale for more."""
    given = kernel.shape[-2]
    if channels == given:
        return kernel
    if given != 3:
        raise ConfigError(
            f"the first convolution {name!r} reads {given} channels; only RGB "
            f"filters can be adapted to {channels} input channels."
        )
    if channels == 1:
        return kernel.sum(axis=-2, keepdims=True)
    repeats = math.ceil(channels / 3)
    return np.concatenate([kernel] * repeats, axis=-2)[..., :channels, :] * (3.0 / channels)
