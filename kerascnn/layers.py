"""Layers Keras 3 lacks, written with `keras.ops` (any backend) and registered for safe `.keras` loading.

Each class is registered under the package name "kerascnn", so `keras.saving.load_model(path,
safe_mode=True)` rebuilds it once `kerascnn` is imported; none holds Python code in its config.
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = [
    "LocalResponseNormalization",
    "ChannelPadding",
    "ScaledAdd",
    "DropPath",
    "Subsampling2D",
    "ConnectionTableConv2D",
    "lecun_tanh",
    "get_activation",
]


@keras.saving.register_keras_serializable(package="kerascnn")
class LocalResponseNormalization(keras.layers.Layer):
    """Local response normalization across channels (Krizhevsky et al., 2012, section 3.3).

    `b[c] = a[c] / (k + alpha * sum(a[j]**2 for j in the size channels centred on c)) ** beta`

    The defaults are AlexNet's constants (size n=5, alpha=1e-4, beta=0.75, k=2), also used by the VGG
    paper's configuration A-LRN. This is the paper's formula, the one
    `tf.nn.local_response_normalization`
    computes (with `depth_radius = size // 2`). Caffe and PyTorch divide alpha by `size`; to match
    a model
    trained there, pass `alpha = their_alpha / size`. No weights. Channels-last input.

    Args:
        size: number of adjacent channels summed over (odd).
        alpha: scale of the sum of squares.
        beta: exponent.
        k: additive bias.
    """

    def __init__(self, size: int = 5, alpha: float = 1e-4, beta: float = 0.75, k: float = 2.0, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(size, int) or isinstance(size, bool) or size < 1 or size % 2 == 0:
            raise ValueError(f"`size` must be a positive odd integer. Received: size={size!r}")
        self.size = size
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.k = float(k)

    def call(self, inputs):
        dtype = inputs.dtype
        # The sum of squares overflows float16 easily: 16-bit inputs are summed in float32 (float64
        # stays float64).
        x = inputs if dtype in ("float32", "float64") else ops.cast(inputs, "float32")
        squared = ops.square(x)
        half = self.size // 2
        channels = x.shape[-1]
        padded = ops.pad(squared, [[0, 0]] * (len(x.shape) - 1) + [[half, half]])
        window = padded[..., 0:channels]
        for i in range(1, self.size):
            window = window + padded[..., i : i + channels]
        y = x / ops.power(self.k + self.alpha * window, self.beta)
        return ops.cast(y, dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "size": self.size,
            "alpha": self.alpha,
            "beta": self.beta,
            "k": self.k,
        }


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


@keras.saving.register_keras_serializable(package="kerascnn")
class ScaledAdd(keras.layers.Layer):
    """`shortcut + scale * residual` for inputs `[shortcut, residual]`: a scaled residual addition.

    Szegedy et al., "Inception-v4, Inception-ResNet and the Impact of Residual Connections on
    Learning", AAAI 2017, section 3.3: scaling the residual by 0.1-0.3 before adding it keeps very wide
    Inception-ResNets from dying early in training. keras.applications' InceptionResNetV2 computes the
    same with its `CustomScaleLayer`. No weights.
    """

    def __init__(self, scale: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(scale, (int, float)) or isinstance(scale, bool):
            raise ValueError(f"`scale` must be a number. Received: scale={scale!r}")
        self.scale = float(scale)

    def call(self, inputs):
        shortcut, residual = inputs
        # convert_to_tensor, not cast: a Python float cast goes through float32 on TensorFlow.
        scale = ops.convert_to_tensor(self.scale, dtype=keras.backend.standardize_dtype(residual.dtype))
        return shortcut + scale * residual

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


@keras.saving.register_keras_serializable(package="kerascnn")
class DropPath(keras.layers.Layer):
    """Stochastic depth on a residual branch (Huang, Sun, Liu, Sedra & Weinberger, "Deep Networks with
    Stochastic Depth", ECCV 2016): during training each sample's branch is dropped with probability
    `rate` (the whole branch, so the block is its shortcut for that sample).

    Scaling: inverted, as timm's `DropPath` and torchvision's `StochasticDepth` do: a kept branch is
    divided by the survival probability `1 - rate` during training, and inference is the identity.
    The paper instead leaves training unscaled and multiplies the branch by the survival probability
    at test time (its Eq. 5); the expected value of every block's output is the same both ways, and
    inference is deterministic in both. No weights.

    Args:
        rate: the probability of dropping the branch, in [0, 1).
        seed: seed of the per-sample draws.
    """

    def __init__(self, rate: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0 <= rate < 1:
            raise ValueError(f"Layer '{self.name}': `rate` must be in [0, 1). Received: rate={rate!r}")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training or self.rate == 0:
            return inputs
        keep = 1.0 - self.rate
        shape = (ops.shape(inputs)[0],) + (1,) * (len(inputs.shape) - 1)
        draw = keras.random.uniform(shape, seed=self.seed_generator, dtype="float32")
        mask = ops.cast(draw < keep, inputs.dtype)
        return inputs * mask / ops.cast(keep, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@keras.saving.register_keras_serializable(package="kerascnn")
def lecun_tanh(x):
    """LeNet-5's squashing function `1.7159 * tanh(2x / 3)` (LeCun et al. 1998, appendix A).

    The constants make f(1) = 1 and f(-1) = -1 with the maximum second derivative at +-1.
    """
    return 1.7159 * ops.tanh(x * (2.0 / 3.0))


# Activations the toolkit adds to Keras' own, usable by name in blocks and specs.
ACTIVATIONS = {"lecun_tanh": lecun_tanh}


def get_activation(name):
    """What `keras.layers.Activation` should receive for an activation name (toolkit names first).

    Raises:
        ValueError: the name is neither a toolkit nor a Keras activation.
    """
    if name in ACTIVATIONS:
        return ACTIVATIONS[name]
    keras.activations.get(name)  # raises ValueError for unknown names
    return name


@keras.saving.register_keras_serializable(package="kerascnn")
class Subsampling2D(keras.layers.Layer):
    """LeNet-5's subsampling layers S2 and S4 (LeCun et al. 1998, section II.B).

    "The four inputs to a unit in S2 are added, then multiplied by a trainable coefficient, and added
    to a trainable bias": per channel, `y = w_c * sum(2x2 window) + b_c`, 2 parameters per map (the
    squashing function follows as its own layer). The coefficient starts at 1 / pool_size^2, making
    the layer an average pool at initialization. Channels-last input.
    """

    def __init__(self, pool_size: int = 2, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(pool_size, int) or isinstance(pool_size, bool) or pool_size < 1:
            raise ValueError(
                f"`pool_size` must be a positive integer. Received: pool_size={pool_size!r}"
            )
        self.pool_size = pool_size

    def build(self, input_shape):
        channels = input_shape[-1]
        self.coefficient = self.add_weight(
            shape=(channels,),
            name="coefficient",
            initializer=keras.initializers.Constant(1.0 / self.pool_size**2),
        )
        self.bias = self.add_weight(shape=(channels,), name="bias", initializer="zeros")

    def call(self, inputs):
        window_sum = ops.average_pool(
            inputs, self.pool_size, strides=self.pool_size, padding="valid"
        ) * (self.pool_size**2)
        return window_sum * self.coefficient + self.bias

    def compute_output_shape(self, input_shape):
        h, w = (None if d is None else d // self.pool_size for d in input_shape[1:3])
        return (input_shape[0], h, w, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size}


@keras.saving.register_keras_serializable(package="kerascnn")
class ConnectionTableConv2D(keras.layers.Layer):
    """A convolution whose output maps each see only some input maps: LeNet-5's layer C3.

    `table[j]` lists the input channels that output map j is connected to (LeCun et al. 1998, Table I).
    Only the connected kernels exist, so the parameter count is the paper's: for C3,
    `25 * (6*3 + 6*4 + 3*4 + 6) + 16 = 1,516`. "Valid" padding, stride 1, as in the paper.

    Args:
        table: for each output map, the input channels it reads.
        kernel_size: square kernel size.
        use_bias: one bias per output map.
        kernel_initializer: a Keras initializer name.
    """

    def __init__(
        self,
        table,
        kernel_size: int = 5,
        use_bias: bool = True,
        kernel_initializer: str = "glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if (
            not isinstance(table, (list, tuple))
            or not table
            or not all(isinstance(row, (list, tuple)) and row for row in table)
        ):
            raise ValueError(
                f"`table` must list, for each output map, a non-empty list of input "
                f"channels. Received: table={table!r}"
            )
        self.table = [sorted(int(c) for c in row) for row in table]
        self.kernel_size = int(kernel_size)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        channels = input_shape[-1]
        bad = sorted({c for row in self.table for c in row if not 0 <= c < channels})
        if bad:
            raise ValueError(
                f"Layer '{self.name}': the connection table names input channels {bad}, "
                f"but the input has {channels} channels."
            )
        k = self.kernel_size
        self.kernels = [
            self.add_weight(
                shape=(k, k, len(row), 1), name=f"kernel_{j}", initializer=self.kernel_initializer
            )
            for j, row in enumerate(self.table)
        ]
        self.bias = (
            self.add_weight(shape=(len(self.table),), name="bias", initializer="zeros")
            if self.use_bias
            else None
        )

    def call(self, inputs):
        maps = [
            ops.conv(ops.take(inputs, row, axis=-1), kernel, padding="valid")
            for row, kernel in zip(self.table, self.kernels)
        ]
        y = ops.concatenate(maps, axis=-1)
        return y + self.bias if self.use_bias else y

    def compute_output_shape(self, input_shape):
        h, w = (None if d is None else d - self.kernel_size + 1 for d in input_shape[1:3])
        return (input_shape[0], h, w, len(self.table))

    def get_config(self):
        return {
            **super().get_config(),
            "table": self.table,
            "kernel_size": self.kernel_size,
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }
