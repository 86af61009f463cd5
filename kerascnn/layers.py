"""Layers Keras 3 lacks, written with `keras.ops` (any backend) and registered for safe `.keras` loading.

Each class is registered under the package name "kerascnn", so `keras.saving.load_model(path,
safe_mode=True)` rebuilds it once `kerascnn` is imported; none holds Python code in its config.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kerascnn")
class LocalResponseNormalization(keras.layers.Layer):
    """Local response normalization across channels (Krizhevsky et al., 2012, section 3.3).

    `b[c] = a[c] / (k + alpha * sum(a[j]**2 for j in the size channels centred on c)) ** beta`

    The defaults are AlexNet's constants (size n=5, alpha=1e-4, beta=0.75, k=2), also used by the VGG
    paper's configuration A-LRN. This is the paper's formula, the one `tf.nn.local_response_normalization`
    computes (with `depth_radius = size // 2`). Caffe and PyTorch divide alpha by `size`; to match a model
    trained there, pass `alpha = their_alpha / size`. No weights. Channels-last input.

    Args:
        size: number of adjacent channels summed over (odd).
        alpha: scale of the sum of squares.
        beta: exponent.
        k: additive bias.
    """

    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0,
                 **kwargs):
        super().__init__(**kwargs)
        if not isinstance(size, int) or isinstance(size, bool) or size < 1 or size % 2 == 0:
            raise ValueError(f"`size` must be a positive odd integer. Received: size={size!r}")
        self.size = size
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.k = float(k)

    def call(self, inputs):
        dtype = inputs.dtype
        x = ops.cast(inputs, "float32")  # the sum of squares overflows float16 easily
        squared = ops.square(x)
        half = self.size // 2
        channels = x.shape[-1]
        padded = ops.pad(squared, [[0, 0]] * (len(x.shape) - 1) + [[half, half]])
        window = padded[..., 0:channels]
        for i in range(1, self.size):
            window = window + padded[..., i:i + channels]
        y = x / ops.power(self.k + self.alpha * window, self.beta)
        return ops.cast(y, dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "size": self.size, "alpha": self.alpha,
                "beta": self.beta, "k": self.k}


@keras.saving.register_keras_serializable(package="kerascnn")
class ChannelPadding(keras.layers.Layer):
    """Append `padding` all-zero channels (the ResNet paper's option-A shortcut, He et al., 2015, 4.1).

    "The shortcut still performs identity mapping, with extra zero entries padded for increasing
    dimensions": parameter-free, unlike a 1x1 projection. Channels-last input.
    """

    def __init__(self, padding: int, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(padding, int) or isinstance(padding, bool) or padding < 0:
            raise ValueError(f"`padding` must be a non-negative integer. Received: padding={padding!r}")
        self.padding = padding

    def call(self, inputs):
        return ops.pad(inputs, [[0, 0]] * (len(inputs.shape) - 1) + [[0, self.padding]])

    def compute_output_shape(self, input_shape):
        channels = input_shape[-1]
        return (*input_shape[:-1], None if channels is None else channels + self.padding)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}
