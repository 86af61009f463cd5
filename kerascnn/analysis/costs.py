"""What one layer call costs: multiply-adds, and how it moves the receptive field.

The papers count multiply-adds one way: one per kernel weight per output position ("FLOPs" in the
ResNet and SENet tables, "multiply-adds" in GoogLeNet's). So a convolution costs
`k_h k_w (C_in / groups) C_out H_out W_out`, a depthwise one `k_h k_w C_in multiplier H_out W_out`, a
dense layer `inputs * units` per position. Left out, as the papers leave them out: biases,
normalization, activations, pooling, padding, concatenation and element-wise merges (the residual
addition, the squeeze-and-excitation rescaling). Those layers are *known* to cost nothing under this
convention; a layer type with no rule here is reported as not counted, never as zero.

A rule is found through the layer's class hierarchy, so a subclass of `Conv2D` is counted as a
`Conv2D`. Users add rules for their own layers with `register_cost`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import keras

from kerascnn import layers as kl


@dataclass(frozen=True)
class Cost:
    """One call of a layer.

    Attributes:
        macs: multiply-adds for the whole batch.
        spatial: how the output's receptive field follows from the inputs': "keep" (point-wise in
            space: normalization, activations, merges, padding), "window" (a sliding window of
            `window` with `stride`: convolutions and pooling), "global" (every output sees the whole
            input: global pooling, flatten, dense on vectors), or "unknown".
        window: effective window per spatial axis, `dilation * (k - 1) + 1`.
        stride: stride per spatial axis.
        inplace: the output can overwrite the input or view it (activations, dropout, flatten,
            reshape), so it takes no memory of its own in the lecture tables' accounting, where
            "CONV3-64: 224*224*64" is the convolution's output with its ReLU applied in place.
    """

    macs: int
    spatial: Literal["keep", "window", "global", "unknown"] = "keep"
    window: tuple[int, ...] | None = None
    stride: tuple[int, ...] | None = None
    inplace: bool = False


CostRule = Callable[[keras.layers.Layer, Sequence, Sequence], Cost]
RULES: dict[type, CostRule] = {}


def register_cost(*classes: type):
    """Register `rule(layer, inputs, outputs) -> Cost` for layer classes (and their subclasses).

    `inputs` and `outputs` are the call's tensors (`KerasTensor`s with the batch dimension set).
    """

    def decorate(rule: CostRule) -> CostRule:
        for cls in classes:
            RULES[cls] = rule
        return rule

    return decorate


def find_rule(layer) -> CostRule | None:
    """The rule of the nearest class in the layer's hierarchy that has one."""
    for cls in type(layer).__mro__:
        if cls in RULES:
            return RULES[cls]
    return None


def _prod(values) -> int:
    return math.prod(int(v) for v in values)


def _channels_last(layer) -> bool:
    return getattr(layer, "data_format", "channels_last") != "channels_first"


def _spatial(shape, layer) -> tuple:
    return tuple(shape[1:-1]) if _channels_last(layer) else tuple(shape[2:])


def _channels(shape, layer) -> int:
    return int(shape[-1] if _channels_last(layer) else shape[1])


def _window(kernel, dilation) -> tuple[int, ...]:
    return tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))


def _batch_positions(tensor, layer) -> int:
    """Batch size times the number of output positions."""
    return int(tensor.shape[0]) * _prod(_spatial(tensor.shape, layer))


# --- layers that compute -------------------------------------------------------------------------


@register_cost(keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
def _conv(layer, inputs, outputs) -> Cost:
    cin = _channels(inputs[0].shape, layer)
    macs = _prod(layer.kernel_size) * (cin // layer.groups) * layer.filters
    return Cost(
        macs * _batch_positions(outputs[0], layer),
        "window",
        _window(layer.kernel_size, layer.dilation_rate),
        tuple(layer.strides),
    )


@register_cost(keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose, keras.layers.Conv3DTranspose)
def _conv_transpose(layer, inputs, outputs) -> Cost:
    # Every input position scatters one kernel: weights x input positions.
    cin = _channels(inputs[0].shape, layer)
    macs = _prod(layer.kernel_size) * cin * layer.filters * _batch_positions(inputs[0], layer)
    return Cost(macs, "unknown")  # an up-sampling has no receptive field in the usual sense


@register_cost(keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)
def _depthwise(layer, inputs, outputs) -> Cost:
    cin = _channels(inputs[0].shape, layer)
    macs = _prod(layer.kernel_size) * cin * layer.depth_multiplier
    return Cost(
        macs * _batch_positions(outputs[0], layer),
        "window",
        _window(layer.kernel_size, layer.dilation_rate),
        tuple(layer.strides),
    )


@register_cost(keras.layers.SeparableConv1D, keras.layers.SeparableConv2D)
def _separable(layer, inputs, outputs) -> Cost:
    cin = _channels(inputs[0].shape, layer)
    per_position = cin * layer.depth_multiplier * (_prod(layer.kernel_size) + layer.filters)
    return Cost(
        per_position * _batch_positions(outputs[0], layer),
        "window",
        _window(layer.kernel_size, layer.dilation_rate),
        tuple(layer.strides),
    )


@register_cost(keras.layers.Dense)
def _dense(layer, inputs, outputs) -> Cost:
    shape = inputs[0].shape
    positions = _prod(shape[:-1])  # batch (and any positions a dense layer is applied at)
    spatial = "keep" if len(shape) > 2 else "global"
    return Cost(positions * int(shape[-1]) * layer.units, spatial)


@register_cost(kl.ConnectionTableConv2D)
def _table_conv(layer, inputs, outputs) -> Cost:
    k = layer.kernel_size
    connected = sum(len(row) for row in layer.table)
    return Cost(k * k * connected * _batch_positions(outputs[0], layer), "window", (k, k), (1, 1))


@register_cost(kl.Subsampling2D)
def _subsampling(layer, inputs, outputs) -> Cost:
    # One trainable coefficient per output value (the window sum is additions).
    p = layer.pool_size
    return Cost(_prod(outputs[0].shape), "window", (p, p), (p, p))


# --- layers the papers' convention leaves out ---------------------------------------------------


@register_cost(
    keras.layers.MaxPooling1D,
    keras.layers.MaxPooling2D,
    keras.layers.MaxPooling3D,
    keras.layers.AveragePooling1D,
    keras.layers.AveragePooling2D,
    keras.layers.AveragePooling3D,
)
def _pooling(layer, inputs, outputs) -> Cost:
    return Cost(0, "window", tuple(layer.pool_size), tuple(layer.strides))


@register_cost(
    keras.layers.GlobalAveragePooling1D,
    keras.layers.GlobalAveragePooling2D,
    keras.layers.GlobalAveragePooling3D,
    keras.layers.GlobalMaxPooling1D,
    keras.layers.GlobalMaxPooling2D,
    keras.layers.GlobalMaxPooling3D,
)
def _global(layer, inputs, outputs) -> Cost:
    return Cost(0, "global")


@register_cost(keras.layers.Flatten, keras.layers.Reshape)
def _view(layer, inputs, outputs) -> Cost:
    return Cost(0, "global", inplace=True)


_INPLACE = (
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.ELU,
    keras.layers.Softmax,
    keras.layers.Dropout,
    keras.layers.SpatialDropout1D,
    keras.layers.SpatialDropout2D,
    keras.layers.SpatialDropout3D,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
    keras.layers.AlphaDropout,
    keras.layers.ActivityRegularization,
    keras.layers.Identity,
    kl.DropPath,
)


@register_cost(*_INPLACE)
def _inplace(layer, inputs, outputs) -> Cost:
    return Cost(0, "keep", inplace=True)


_POINTWISE = (
    keras.layers.InputLayer,
    keras.layers.BatchNormalization,
    keras.layers.LayerNormalization,
    keras.layers.GroupNormalization,
    keras.layers.UnitNormalization,
    keras.layers.PReLU,
    keras.layers.ZeroPadding1D,
    keras.layers.ZeroPadding2D,
    keras.layers.ZeroPadding3D,
    keras.layers.Cropping1D,
    keras.layers.Cropping2D,
    keras.layers.Cropping3D,
    keras.layers.Concatenate,
    keras.layers.Add,
    keras.layers.Subtract,
    keras.layers.Multiply,
    keras.layers.Average,
    keras.layers.Maximum,
    keras.layers.Minimum,
    keras.layers.Rescaling,
    keras.layers.Normalization,
    kl.LocalResponseNormalization,
    kl.ChannelPadding,
    kl.ScaledAdd,
)


@register_cost(*_POINTWISE)
def _pointwise(layer, inputs, outputs) -> Cost:
    return Cost(0, "keep")


@register_cost(
    keras.layers.Permute, keras.layers.UpSampling1D, keras.layers.UpSampling2D, keras.layers.UpSampling3D
)
def _rearrange(layer, inputs, outputs) -> Cost:
    return Cost(0, "unknown")  # no multiply-adds; positions move, so the receptive field is not followed


# What the tables say is left out (shown by `kerascnn summary`).
CONVENTION = (
    "multiply-adds: one per kernel weight per output position (convolutions, dense); "
    "biases, normalization, activations, pooling and element-wise merges are not counted"
)
