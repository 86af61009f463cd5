"""GoogLeNet's inception modules and auxiliary classifier.

Szegedy et al., "Going Deeper with Convolutions", CVPR 2015 (Inception v1 / GoogLeNet): Figure 2 (a) the
naive module and (b) the module with dimension reductions; Table 1 the filter counts; section 5 the
auxiliary classifiers.
"""

from __future__ import annotations

import keras

from kerascnn.blocks.core import block_activation, conv_bn_act
from kerascnn.blocks.head import classifier_head


def inception_module(x, *, filters: tuple[int, int, int, int, int, int], name: str, **conv_args):
    """The inception module with 1x1 "bottleneck" reductions (the paper's Figure 2b).

    Four parallel branches, concatenated on channels:
    1. 1x1 conv;
    2. 1x1 conv (reduce) -> 3x3 conv;
    3. 1x1 conv (reduce) -> 5x5 conv;
    4. 3x3 max-pool (stride 1) -> 1x1 conv (projection).

    `filters` lists the widths in the order of the paper's Table 1 columns:
    `(#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj)`; inception (3a) is
    `(64, 96, 128, 16, 32, 32)` and outputs 64 + 128 + 32 + 32 = 256 channels.

    Cost on an HxWxC input: `H W (C (f1 + f3r + f5r + fp) + 9 f3r f3 + 25 f5r f5)` multiply-adds
    (`kerascnn.profile` counts them; tests/test_analysis.py holds the numbers). On the lecture's
    28x28x256 example, (64, 128, 192, 64, 96, 64) costs 358,055,936 (the lecture's "358M"), against
    854,196,224 for the naive module with 1x1/3x3/5x5 widths 128/192/96. The lecture's figure draws
    (128, 64, 192, 64, 96, 64), whose six terms, as the slide itself lists them, sum to 271,351,808:
    its "358M" total needs the 128-wide reduction in front of the 3x3 convolution.

    Layers: `{name}_b1`, `{name}_b2_reduce`, `{name}_b2`, `{name}_b3_reduce`, `{name}_b3`,
    `{name}_b4_pool`, `{name}_b4_proj` (each conv with its `_bn`/`_act`), `{name}_concat`.
    The paper's GoogLeNet has no BN: give `norm="none"` for the original.

    Args:
        x: input tensor, channels last.
        filters: the six widths above.
        name: prefix of every layer name.
        **conv_args: forwarded to `conv_bn_act`.
    """
    f1, f3r, f3, f5r, f5, fp = _widths(filters, 6, name)
    b1 = conv_bn_act(x, filters=f1, kernel_size=1, name=f"{name}_b1", **conv_args)
    b2 = conv_bn_act(x, filters=f3r, kernel_size=1, name=f"{name}_b2_reduce", **conv_args)
    b2 = conv_bn_act(b2, filters=f3, kernel_size=3, name=f"{name}_b2", **conv_args)
    b3 = conv_bn_act(x, filters=f5r, kernel_size=1, name=f"{name}_b3_reduce", **conv_args)
    b3 = conv_bn_act(b3, filters=f5, kernel_size=5, name=f"{name}_b3", **conv_args)
    b4 = keras.layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_b4_pool")(x)
    b4 = conv_bn_act(b4, filters=fp, kernel_size=1, name=f"{name}_b4_proj", **conv_args)
    return keras.layers.Concatenate(axis=-1, name=f"{name}_concat")([b1, b2, b3, b4])


def naive_inception_module(x, *, filters: tuple[int, int, int], name: str, **conv_args):
    """The naive inception module (the paper's Figure 2a): 1x1, 3x3 and 5x5 convs beside a 3x3 max-pool.

    `filters` is `(#1x1, #3x3, #5x5)`. The pooling branch passes all C input channels through, so the
    output has `f1 + f3 + f5 + C` channels: on 28x28x192 with inception (3a)'s widths (64, 128, 32)
    that is 416, not 256, and the depth grows with every module. That growth, and the cost of the 3x3
    and 5x5 convolutions on the full input depth (854M multiply-adds in the lecture's 28x28x256
    example), are why the paper adds the 1x1 reductions of `inception_module`.

    Layers: `{name}_b1`, `{name}_b2`, `{name}_b3`, `{name}_b4_pool`, `{name}_concat`.
    """
    f1, f3, f5 = _widths(filters, 3, name)
    b1 = conv_bn_act(x, filters=f1, kernel_size=1, name=f"{name}_b1", **conv_args)
    b2 = conv_bn_act(x, filters=f3, kernel_size=3, name=f"{name}_b2", **conv_args)
    b3 = conv_bn_act(x, filters=f5, kernel_size=5, name=f"{name}_b3", **conv_args)
    b4 = keras.layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_b4_pool")(x)
    return keras.layers.Concatenate(axis=-1, name=f"{name}_concat")([b1, b2, b3, b4])


def auxiliary_classifier(
    x,
    *,
    classes: int,
    dropout: float = 0.7,
    classifier_activation: str | None = "softmax",
    name: str,
    **conv_args,
):
    """GoogLeNet's auxiliary classifier, attached to an intermediate feature map during training.

    Section 5 of the paper: 5x5 average pooling with stride 3 (14x14 -> 4x4), a 1x1 convolution with
    128 filters, a fully connected layer with 1024 units, dropout of 70%, and a softmax classifier.
    Its loss is added to the main loss with weight 0.3; at inference it is discarded.

    Layers: `{name}_pool`, `{name}_conv` (with `_act`), then the head's `{name}_flatten`, `{name}_fc1`,
    `{name}_act1`, `{name}_drop1`, `{name}_logits`, `{name}_pred`.
    """
    y = keras.layers.AveragePooling2D(5, strides=3, name=f"{name}_pool")(x)
    y = conv_bn_act(y, filters=128, kernel_size=1, name=f"{name}_conv", **conv_args)
    return classifier_head(
        y,
        classes=classes,
        pool="flatten",
        hidden=(1024,),
        dropout=dropout,
        classifier_activation=classifier_activation,
        hidden_activation=block_activation(conv_args),
        name=name,
    )


def _widths(filters, count, name):
    if (
        not isinstance(filters, (tuple, list))
        or len(filters) != count
        or not all(isinstance(f, int) and not isinstance(f, bool) and f >= 1 for f in filters)
    ):
        raise ValueError(
            f"Layer '{name}': `filters` must list {count} positive integers. "
            f"Received: filters={filters!r}"
        )
    return tuple(filters)
