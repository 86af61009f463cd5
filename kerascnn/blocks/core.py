"""The units every network here is made of: conv -> BN -> activation (or BN -> activation -> conv), and
the single-layer helpers (activation, dropout, pooling) that blocks, stems, heads and the spec
notation share.

Batch normalization: Ioffe & Szegedy, "Batch Normalization", ICML 2015. Pre-activation ordering:
He et al., "Identity Mappings in Deep Residual Networks", ECCV 2016.
"""

from __future__ import annotations

from typing import Literal

import keras

from kerascnn.layers import ACTIVATIONS, get_activation

# Convolution arguments a block forwards to `conv_bn_act` through `**conv_args`; a spec's `defaults`
# table sets them network-wide.
CONV_ARGS = ("norm", "activation", "use_bias", "kernel_initializer", "bn_momentum", "bn_epsilon")
DEFAULT_ACTIVATION = "relu"

Padding = Literal["same", "valid"] | int | tuple[int, int]


def conv_bn_act(
    x,
    *,
    filters: int,
    kernel_size: int | tuple[int, int] = 3,
    strides: int | tuple[int, int] = 1,
    padding: Padding = "same",
    groups: int = 1,
    dilation_rate: int = 1,
    use_bias: bool | None = None,
    norm: Literal["batch", "none"] | None = "batch",
    activation: str | None = DEFAULT_ACTIVATION,
    preact: bool = False,
    kernel_initializer: str = "he_normal",
    bn_momentum: float = 0.9,
    bn_epsilon: float = 1e-5,
    gamma_initializer: str = "ones",
    name: str,
):
    """Convolution with optional batch normalization and activation, in either order.

    Post-activation (default): `[pad] conv -> BN -> act`. Pre-activation (`preact=True`): `BN -> act ->
    [pad] conv`, the ordering of pre-activation ResNets, Wide ResNets and DenseNets.

    Layers, all named from `name`: the convolution is `name`, then `{name}_pad` (explicit padding),
    `{name}_bn`, `{name}_act`.

    Padding: "same" pads `dilation * (k - 1) // 2` on every side, as Caffe and PyTorch do with
    `padding=k // 2`, so the output is `ceil(W / stride)` for odd kernels. At stride 1 this is Keras'
    own "same"; at stride > 1 it is an explicit symmetric `ZeroPadding2D` followed by a "valid"
    convolution (Keras/TensorFlow "same" would pad only bottom/right), which is what keras.applications
    does by hand and what weights trained in Caffe or PyTorch expect. An integer `p` pads `p` on every
    side (the papers' "pad p"), so the output is `(W + 2p - k) // stride + 1`.

    Args:
        x: input tensor, channels last.
        filters: output channels.
        kernel_size: an int or (height, width).
        strides: an int or (height, width).
        padding: "same", "valid", an int, or (pad_height, pad_width).
        groups: grouped convolution (AlexNet's two-GPU split, ResNeXt's cardinality); must divide the
            input and output channels.
        dilation_rate: dilation of the kernel.
        use_bias: convolution bias; `None` means "only when there is no norm layer in this unit"
            (a following BN's shift makes a bias redundant).
        norm: "batch" for BatchNormalization, "none" or None for no normalization.
        activation: any Keras activation name; None or "linear" for none.
        preact: put norm and activation before the convolution.
        kernel_initializer: a Keras initializer name ("he_normal" follows He et al., 2015).
        bn_momentum: BatchNormalization momentum (0.9 is PyTorch's 0.1 in Keras' convention).
        bn_epsilon: BatchNormalization epsilon.
        gamma_initializer: the BN scale's initializer ("zeros": a residual branch that starts as
            nothing, Goyal et al. 2017).
        name: prefix of every layer name.

    Returns:
        The output tensor.
    """
    kernel = _pair(kernel_size, "kernel_size", name)
    stride = _pair(strides, "strides", name)
    check_positive_int(filters, "filters", name)
    check_positive_int(groups, "groups", name)
    check_positive_int(dilation_rate, "dilation_rate", name)
    channels = x.shape[-1]
    if channels is not None and (channels % groups or filters % groups):
        raise ValueError(
            f"Layer '{name}': groups={groups} must divide the input channels and `filters`. "
            f"Received: {channels} input channels, filters={filters}."
        )
    norm = _check_norm(norm, name)
    if use_bias is None:
        use_bias = norm is None

    if preact:
        x = norm_act(
            x,
            norm=norm,
            activation=activation,
            bn_momentum=bn_momentum,
            bn_epsilon=bn_epsilon,
            name=name,
        )
    conv_padding, explicit = _resolve_padding(padding, kernel, stride, dilation_rate, name)
    if explicit is not None:
        x = keras.layers.ZeroPadding2D(explicit, name=f"{name}_pad")(x)
    x = keras.layers.Conv2D(
        filters,
        kernel,
        strides=stride,
        padding=conv_padding,
        groups=groups,
        dilation_rate=dilation_rate,
        use_bias=use_bias,
        kernel_initializer=kernel_initializer,
        data_format="channels_last",
        name=name,
    )(x)
    if not preact:
        x = norm_act(
            x,
            norm=norm,
            activation=activation,
            bn_momentum=bn_momentum,
            bn_epsilon=bn_epsilon,
            gamma_initializer=gamma_initializer,
            name=name,
        )
    return x


def norm_act(
    x,
    *,
    norm: Literal["batch", "none"] | None = "batch",
    activation: str | None = DEFAULT_ACTIVATION,
    bn_momentum: float = 0.9,
    bn_epsilon: float = 1e-5,
    gamma_initializer: str = "ones",
    name: str,
    **conv_args,
):
    """Normalization then activation, named `{name}_bn` and `{name}_act` (either may be absent).

    The convolution-only arguments of `CONV_ARGS` (`use_bias`, `kernel_initializer`) are accepted and
    ignored, so a block can pass its `**conv_args` straight through.
    """
    unknown = sorted(set(conv_args) - set(CONV_ARGS))
    if unknown:
        raise ValueError(f"Layer '{name}': unknown argument(s) {unknown}. Allowed: {list(CONV_ARGS)}.")
    norm = _check_norm(norm, name)
    if norm == "batch":
        x = keras.layers.BatchNormalization(
            axis=-1,
            momentum=bn_momentum,
            epsilon=bn_epsilon,
            gamma_initializer=gamma_initializer,
            name=f"{name}_bn",
        )(x)
    return activation_layer(x, activation, name=f"{name}_act")


def activation_layer(x, activation: str | None, *, name: str):
    """`Activation(activation)` named `name`; nothing for None or "linear"."""
    if activation is None or activation == "linear":
        return x
    check_activation(activation, name)
    return keras.layers.Activation(get_activation(activation), name=name)(x)


def dropout_layer(x, rate: float, *, name: str):
    """`Dropout(rate)` named `name`; nothing for a rate of 0."""
    if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0 <= rate < 1:
        raise ValueError(f"Layer '{name}': `dropout` must be in [0, 1). Received: dropout={rate!r}")
    return keras.layers.Dropout(rate, name=name)(x) if rate else x


def pool_layer(
    x,
    *,
    kind: Literal["max", "avg"] = "max",
    pool_size: int = 2,
    strides: int | None = None,
    padding: Padding = "valid",
    name: str,
):
    """Max or average pooling named `name`, with `{name}_pad` for explicit padding.

    Padding: "valid" floors, like the papers' `(W - k) // s + 1`; "same" is Keras' own, which pads
    bottom/right and so reproduces Caffe's ceil-mode pooling (GoogLeNet); an integer `p` zero-pads
    `p` on every side first (keras.applications' ResNet stem: pad 1, then a 3x3/2 max-pool; zeros are
    harmless after a ReLU).
    """
    if kind not in ("max", "avg"):
        raise ValueError(f"Layer '{name}': pooling `kind` must be 'max' or 'avg'. Received: {kind!r}")
    check_positive_int(pool_size, "pool_size", name)
    strides = pool_size if strides is None else strides
    check_positive_int(strides, "strides", name)
    if padding not in ("same", "valid"):
        pad = _pad_pair(padding, name)
        if pad != (0, 0):
            x = keras.layers.ZeroPadding2D(pad, name=f"{name}_pad")(x)
        padding = "valid"
    cls = keras.layers.MaxPooling2D if kind == "max" else keras.layers.AveragePooling2D
    return cls(pool_size, strides=strides, padding=padding, data_format="channels_last", name=name)(x)


def check_activation(activation, where: str) -> None:
    """Raise a clear ValueError unless `activation` names a Keras activation."""
    if activation is None:
        return
    try:
        if not isinstance(activation, str):
            raise ValueError
        get_activation(activation)
    except ValueError:
        raise ValueError(
            f"Layer '{where}': unknown activation {activation!r}. Use a Keras activation name "
            f"such as 'relu', 'tanh', 'sigmoid', 'swish', 'gelu' or 'linear', or one of the "
            f"toolkit's: {', '.join(ACTIVATIONS)}."
        ) from None


def block_activation(conv_args: dict) -> str | None:
    """The activation a block's convolutions use (the one after a residual addition, say)."""
    return conv_args.get("activation", DEFAULT_ACTIVATION)


def _check_norm(norm, where):
    if norm in (None, "none"):
        return None
    if norm != "batch":
        raise ValueError(f"Layer '{where}': `norm` must be 'batch' or 'none'. Received: norm={norm!r}")
    return norm


def check_positive_int(value, what: str, where: str) -> None:
    """Raise a ValueError naming the layer unless `value` is an int >= 1 (bools refused)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(
            f"Layer '{where}': `{what}` must be a positive integer. Received: {what}={value!r}"
        )


def _pair(value, what, where) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) and not isinstance(value, bool) else value
    if (
        not isinstance(pair, (tuple, list))
        or len(pair) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in pair)
    ):
        raise ValueError(
            f"Layer '{where}': `{what}` must be a positive integer or a pair of them. "
            f"Received: {what}={value!r}"
        )
    return tuple(pair)


def _resolve_padding(padding, kernel, stride, dilation, where):
    """(Conv2D padding, explicit ZeroPadding2D amount or None) for a requested padding."""
    if padding == "valid":
        return "valid", None
    if padding == "same":
        if all(k % 2 == 1 for k in kernel):
            pad = tuple(dilation * (k - 1) // 2 for k in kernel)
        else:  # even kernels cannot be padded symmetrically: Keras' "same"
            return "same", None
    else:
        pad = _pad_pair(padding, where)
    same = tuple(dilation * (k - 1) // 2 for k in kernel)
    if pad == (0, 0):
        return "valid", None
    if stride == (1, 1) and pad == same and all(k % 2 == 1 for k in kernel):
        return "same", None  # identical to symmetric padding at stride 1, and one layer fewer
    return "valid", pad


def _pad_pair(padding, where):
    pair = (padding, padding) if isinstance(padding, int) and not isinstance(padding, bool) else padding
    if (
        not isinstance(pair, (tuple, list))
        or len(pair) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in pair)
    ):
        raise ValueError(
            f"Layer '{where}': `padding` must be 'same', 'valid', a non-negative "
            f"integer or a pair of them. Received: padding={padding!r}"
        )
    return tuple(pair)
