"""DenseNet's dense block and transition layer.

Huang et al., "Densely Connected Convolutional Networks", CVPR 2017: section 3 (composite function
BN-ReLU-Conv, bottleneck layers "-B", compression "-C"), Table 1 (ImageNet DenseNets).
"""

from __future__ import annotations

import keras

from kerascnn.blocks.core import check_positive_int, conv_bn_act, dropout_layer, pool_layer


def dense_block(
    x,
    *,
    layers: int,
    growth_rate: int = 32,
    bottleneck: bool = True,
    dropout: float = 0.0,
    name: str,
    **conv_args,
):
    """`layers` densely connected layers: each sees the concatenation of all earlier feature maps.

    Each layer is `BN-ReLU-Conv3x3(k)`, or with the bottleneck (DenseNet-B/BC)
    `BN-ReLU-Conv1x1(4k)-BN-ReLU-Conv3x3(k)`, and its `k = growth_rate` new maps are concatenated to its
    input. The block turns C channels into `C + layers * k`. With `dropout`, a dropout layer follows
    each convolution (the paper's setting for CIFAR without augmentation, rate 0.2).

    Layers: `{name}_layer{i}_conv1*` (bottleneck), `{name}_layer{i}_conv2*`, `{name}_layer{i}_drop*`,
    `{name}_layer{i}_concat`, for i = 1..layers.

    Args:
        x: input tensor, channels last.
        layers: number of layers in the block (6, 12, 24, 16 for DenseNet-121).
        growth_rate: k, new channels per layer (32 for the ImageNet DenseNets, 12 for DenseNet-BC-100).
        bottleneck: use the 1x1 bottleneck with 4k channels (DenseNet-B).
        dropout: dropout rate after each convolution.
        name: prefix of every layer name.
        **conv_args: forwarded to `conv_bn_act`; the convolutions are always pre-activated.
    """
    check_positive_int(layers, "layers", name)
    check_positive_int(growth_rate, "growth_rate", name)
    for i in range(1, layers + 1):
        unit = f"{name}_layer{i}"
        y = x
        if bottleneck:
            y = conv_bn_act(
                y, filters=4 * growth_rate, kernel_size=1, preact=True, name=f"{unit}_conv1", **conv_args
            )
            y = dropout_layer(y, dropout, name=f"{unit}_drop1")
        y = conv_bn_act(
            y, filters=growth_rate, kernel_size=3, preact=True, name=f"{unit}_conv2", **conv_args
        )
        y = dropout_layer(y, dropout, name=f"{unit}_drop2")
        x = keras.layers.Concatenate(axis=-1, name=f"{unit}_concat")([x, y])
    return x


def transition(x, *, compression: float = 0.5, name: str, **conv_args):
    """DenseNet's transition between dense blocks: `BN-ReLU-Conv1x1(floor(theta * C)) -> 2x2
    avg-pool /2`.

    `compression` is theta (0.5 in DenseNet-C/BC; 1 keeps the width, as in the plain DenseNet).

    Layers: `{name}_conv` (with `_bn`, `_act`), `{name}_pool`.
    """
    if (
        not isinstance(compression, (int, float))
        or isinstance(compression, bool)
        or not 0 < compression <= 1
    ):
        raise ValueError(
            f"Layer '{name}': `compression` must be in (0, 1]. Received: compression={compression!r}"
        )
    filters = int(x.shape[-1] * compression)
    y = conv_bn_act(x, filters=filters, kernel_size=1, preact=True, name=f"{name}_conv", **conv_args)
    return pool_layer(y, kind="avg", pool_size=2, strides=2, name=f"{name}_pool")
