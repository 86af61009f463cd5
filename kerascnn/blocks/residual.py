"""Residual blocks: ResNet and its heirs in two functions.

- He et al., "Deep Residual Learning for Image Recognition", CVPR 2016 (ResNet v1: post-activation,
  stride on the bottleneck's first 1x1, shortcut options A/B/C of section 4.1).
- "v1.5" (the torchvision/NVIDIA convention): stride on the 3x3 instead (`stride_on="3x3"`).
- He et al., "Identity Mappings in Deep Residual Networks", ECCV 2016 (`preact=True`).
- Zagoruyko & Komodakis, "Wide Residual Networks", BMVC 2016 (`width_factor`, `dropout`).
- Xie et al., "Aggregated Residual Transformations for Deep Neural Networks", CVPR 2017 (ResNeXt:
  `groups` is the cardinality C, `base_width` the per-group width d, as in "32x4d").
- Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018 (`attention="se"`).
- Huang et al., "Deep Networks with Stochastic Depth", ECCV 2016 (`drop_path`), and Goyal et al.,
  "Accurate, Large Minibatch SGD", 2017 (`zero_init_last`): the regularizers the heirs train with.

Shortcuts (He et al. 2016, section 4.1):
- "A": parameter-free. Identity, subsampled by a strided 1x1 max-pool when the block strides, with zero
  channels appended when the width grows (used by the paper's CIFAR-10 networks).
- "B": a 1x1 projection (conv + BN) where the number of channels changes, identity elsewhere (the
  paper's ImageNet networks; the common default); an identity across a stride is subsampled by a
  strided 1x1 max-pool, as in TF-slim's and keras.applications' ResNetV2.
- "C": a projection on every block.
- "none": no shortcut at all: the paper's *plain* networks (section 4.1, Fig. 3 middle; plain-20 ...
  plain-56 on CIFAR-10, Fig. 6 left), the baselines that show deeper plain networks train worse. A
  plain block is the residual block with its addition left out; it has the parameters of option A.
In pre-activation blocks a projection reads the pre-activated input and has no BN of its own, as in the
identity-mappings paper.
"""

from __future__ import annotations

from typing import Literal

import keras

from kerascnn.blocks.attention import apply_attention
from kerascnn.blocks.core import activation_layer, block_activation, conv_bn_act, dropout_layer, norm_act
from kerascnn.layers import ChannelPadding, DropPath

Shortcut = Literal["A", "B", "C", "none"]


def basic_block(
    x,
    *,
    filters: int,
    strides: int = 1,
    groups: int = 1,
    width_factor: float = 1.0,
    preact: bool = False,
    shortcut: Shortcut = "B",
    dropout: float = 0.0,
    attention: str | None = None,
    attention_args: dict | None = None,
    drop_path: float = 0.0,
    zero_init_last: bool = False,
    name: str,
    **conv_args,
):
    """The two-3x3 residual block of ResNet-18/34, the CIFAR ResNets and Wide ResNets.

    Post-activation: `conv3x3 -> BN -> act -> conv3x3 -> BN -> (+ shortcut) -> act`.
    Pre-activation: `BN -> act -> conv3x3 -> BN -> act -> conv3x3 -> (+ shortcut)`.

    Layers: `{name}_preact_*` (pre-activation only), `{name}_conv1*`, `{name}_drop`, `{name}_conv2*`,
    `{name}_se_*`, `{name}_shortcut*`, `{name}_add`, `{name}_out` (post-activation only).

    Weights (post-activation, projection shortcut, bias-free convolutions): `9 C_in W + 9 W^2 + C_in W`
    plus `2 W` per BN (gamma, beta; the moving mean and variance add `2 W` non-trainable), with
    `W = filters * width_factor`.

    Args:
        x: input tensor, channels last.
        filters: output channels, before `width_factor`.
        strides: stride of the first 3x3 convolution (and of the shortcut).
        groups: grouped 3x3 convolutions.
        width_factor: Wide ResNet's k: both convolutions and the output have `filters * k` channels.
        preact: pre-activation ordering (identity-mappings paper, Wide ResNet).
        shortcut: "A", "B", "C" or "none" (a plain block; see the module docstring).
        dropout: dropout rate between the two convolutions (Wide ResNet uses 0.3 on CIFAR).
        attention: an attention module by name ("se"), applied before the addition.
        attention_args: its arguments, e.g. `{"ratio": 16}`.
        drop_path: stochastic depth: the probability that the residual branch is dropped for a
            sample during training (Huang et al. 2016; `kerascnn.layers.DropPath`, `{name}_drop_path`).
        zero_init_last: the branch starts as zero (Goyal et al., "Accurate, Large Minibatch SGD",
            2017, Sec. 5.1): the scale of its last BN initialized to 0 (post-activation); in a
            pre-activation block, whose last convolution has no BN after it, that convolution's
            kernel (as timm's pre-activation ResNets do).
        name: prefix of every layer name.
        **conv_args: forwarded to `conv_bn_act` (norm, activation, use_bias, ...).
    """
    width = _width(filters * width_factor, name)
    if preact:
        pre = norm_act(x, name=f"{name}_preact", **conv_args)
        short = _shortcut(
            x,
            pre,
            filters=width,
            strides=strides,
            kind=shortcut,
            preact=True,
            name=name,
            conv_args=conv_args,
        )
        y = _bare_conv(
            pre,
            filters=width,
            kernel_size=3,
            strides=strides,
            groups=groups,
            name=f"{name}_conv1",
            conv_args=conv_args,
        )
        y = dropout_layer(y, dropout, name=f"{name}_drop")
        y = conv_bn_act(
            y,
            filters=width,
            kernel_size=3,
            groups=groups,
            preact=True,
            name=f"{name}_conv2",
            **_last(conv_args, zero_init_last, preact=True),
        )
    else:
        short = _shortcut(
            x,
            x,
            filters=width,
            strides=strides,
            kind=shortcut,
            preact=False,
            name=name,
            conv_args=conv_args,
        )
        y = conv_bn_act(
            x,
            filters=width,
            kernel_size=3,
            strides=strides,
            groups=groups,
            name=f"{name}_conv1",
            **conv_args,
        )
        y = dropout_layer(y, dropout, name=f"{name}_drop")
        y = conv_bn_act(
            y,
            filters=width,
            kernel_size=3,
            groups=groups,
            name=f"{name}_conv2",
            **_last({**conv_args, "activation": None}, zero_init_last, preact=False),
        )
    return _merge(
        y,
        short,
        preact=preact,
        attention=attention,
        attention_args=attention_args,
        drop_path=drop_path,
        name=name,
        conv_args=conv_args,
    )


def bottleneck_block(
    x,
    *,
    filters: int,
    strides: int = 1,
    expansion: int = 4,
    groups: int = 1,
    base_width: int = 64,
    width_factor: float = 1.0,
    stride_on: Literal["1x1", "3x3"] = "1x1",
    preact: bool = False,
    shortcut: Shortcut = "B",
    attention: str | None = None,
    attention_args: dict | None = None,
    drop_path: float = 0.0,
    zero_init_last: bool = False,
    name: str,
    **conv_args,
):
    """The 1x1-3x3-1x1 bottleneck block of ResNet-50/101/152, ResNeXt, WRN-50-2 and SE-ResNet.

    Post-activation: `1x1 -> BN -> act -> 3x3 -> BN -> act -> 1x1 -> BN -> (+ shortcut) -> act`;
    pre-activation puts each BN-act before its convolution and ends at the addition.

    Widths follow the ResNeXt paper and torchvision: the inner width is
    `int(filters * width_factor * base_width / 64) * groups` and the output `filters * expansion`.
    ResNet-50: filters=64 -> 64 inner, 256 out. ResNeXt-50 32x4d: groups=32, base_width=4 -> 128
    inner, 256 out. WRN-50-2: width_factor=2 -> 128 inner, 256 out.

    The ResNet paper strides the first 1x1 convolution (`stride_on="1x1"`, also keras.applications);
    torchvision's "ResNet v1.5" strides the 3x3 (`stride_on="3x3"`), slightly more accurate and
    costlier.

    Layers: `{name}_preact_*`, `{name}_conv1*`, `{name}_conv2*`, `{name}_conv3*`, `{name}_se_*`,
    `{name}_shortcut*`, `{name}_add`, `{name}_out`.

    Args:
        x: input tensor, channels last.
        filters: the stage's base width (64, 128, 256, 512 in ResNet-50's Table 1).
        strides: the block's stride.
        expansion: output channels are `filters * expansion` (4 in the paper).
        groups: cardinality of the grouped 3x3 convolution (ResNeXt's C).
        base_width: width per group at filters=64 (ResNeXt's d; 64 for plain ResNets).
        width_factor: multiplies the inner width (Wide ResNet-50-2 uses 2).
        stride_on: "1x1" (paper, v1) or "3x3" (v1.5).
        preact: pre-activation ordering.
        shortcut: "A", "B", "C" or "none" (a plain block; see the module docstring).
        attention: an attention module by name ("se"), applied before the addition.
        attention_args: its arguments, e.g. `{"ratio": 16}`.
        drop_path: stochastic depth: the probability that the residual branch is dropped for a
            sample during training (Huang et al. 2016; `kerascnn.layers.DropPath`, `{name}_drop_path`).
        zero_init_last: the branch starts as zero (Goyal et al., "Accurate, Large Minibatch SGD",
            2017, Sec. 5.1): the scale of its last BN initialized to 0 (post-activation); in a
            pre-activation block, whose last convolution has no BN after it, that convolution's
            kernel (as timm's pre-activation ResNets do).
        name: prefix of every layer name.
        **conv_args: forwarded to `conv_bn_act`.
    """
    stride_1x1, stride_3x3 = _bottleneck_strides(strides, stride_on, name)
    inner, out = _bottleneck_widths(
        filters,
        expansion=expansion,
        groups=groups,
        base_width=base_width,
        width_factor=width_factor,
        name=name,
    )
    source = norm_act(x, name=f"{name}_preact", **conv_args) if preact else x
    short = _shortcut(
        x,
        source,
        filters=out,
        strides=strides,
        kind=shortcut,
        preact=preact,
        name=name,
        conv_args=conv_args,
    )
    y = _bottleneck_branch(
        source,
        inner=inner,
        out=out,
        stride_1x1=stride_1x1,
        stride_3x3=stride_3x3,
        groups=groups,
        preact=preact,
        zero_init_last=zero_init_last,
        name=name,
        conv_args=conv_args,
    )
    return _merge(
        y,
        short,
        preact=preact,
        attention=attention,
        attention_args=attention_args,
        drop_path=drop_path,
        name=name,
        conv_args=conv_args,
    )


def _bottleneck_strides(strides, stride_on, name):
    """The strides of a bottleneck's 1x1 and 3x3 convolutions: the block's on the one `stride_on`
    names, 1 on the other."""
    if stride_on not in ("1x1", "3x3"):
        raise ValueError(
            f"Layer '{name}': `stride_on` must be '1x1' or '3x3'. Received: stride_on={stride_on!r}"
        )
    return (strides, 1) if stride_on == "1x1" else (1, strides)


def _bottleneck_widths(filters, *, expansion, groups, base_width, width_factor, name):
    """A bottleneck's inner width (ResNeXt's `int(filters * width_factor * d / 64) * C`) and its
    output width (`filters * expansion`), each at least one channel."""
    _width(base_width, name, what="base_width")
    inner = _width(filters * width_factor * base_width / 64, name) * groups
    return inner, _width(filters * expansion, name)


def _bottleneck_branch(
    x, *, inner, out, stride_1x1, stride_3x3, groups, preact, zero_init_last, name, conv_args
):
    """A bottleneck's residual branch, `{name}_conv1` to `{name}_conv3`: a 1x1 down to `inner`
    channels, the grouped 3x3, a 1x1 up to `out`. In a pre-activation block `x` is the
    pre-activated input, so the first convolution has no BN-act of its own."""
    if preact:
        y = _bare_conv(
            x,
            filters=inner,
            kernel_size=1,
            strides=stride_1x1,
            name=f"{name}_conv1",
            conv_args=conv_args,
        )
    else:
        y = conv_bn_act(
            x, filters=inner, kernel_size=1, strides=stride_1x1, name=f"{name}_conv1", **conv_args
        )
    y = conv_bn_act(
        y,
        filters=inner,
        kernel_size=3,
        strides=stride_3x3,
        groups=groups,
        preact=preact,
        name=f"{name}_conv2",
        **conv_args,
    )
    last = conv_args if preact else {**conv_args, "activation": None}
    return conv_bn_act(
        y,
        filters=out,
        kernel_size=1,
        preact=preact,
        name=f"{name}_conv3",
        **_last(last, zero_init_last, preact=preact),
    )


def _last(conv_args, zero_init_last, *, preact):
    """The arguments of a branch's last unit: zero-initialized with `zero_init_last`."""
    if not zero_init_last:
        return conv_args
    return (
        {**conv_args, "kernel_initializer": "zeros"}
        if preact
        else {**conv_args, "gamma_initializer": "zeros"}
    )


def _merge(y, short, *, preact, attention, attention_args, drop_path, name, conv_args):
    y = apply_attention(y, attention, attention_args, name=f"{name}_{attention}")
    if (
        not isinstance(drop_path, (int, float))
        or isinstance(drop_path, bool)
        or not (0 <= drop_path < 1)
    ):
        raise ValueError(
            f"Layer '{name}': `drop_path` must be in [0, 1). Received: drop_path={drop_path!r}"
        )
    if short is None:  # a plain block
        if drop_path:
            raise ValueError(
                f"Layer '{name}': stochastic depth drops a residual branch, and a "
                f"plain block (shortcut='none') has no shortcut to keep. Received: "
                f"drop_path={drop_path!r}"
            )
        return y if preact else activation_layer(y, block_activation(conv_args), name=f"{name}_out")
    if drop_path:
        y = DropPath(drop_path, name=f"{name}_drop_path")(y)
    if tuple(y.shape[1:]) != tuple(short.shape[1:]):
        raise ValueError(
            f"Layer '{name}_add': the residual branch gives shape {tuple(y.shape[1:])} "
            f"but the shortcut gives {tuple(short.shape[1:])}."
        )
    y = keras.layers.Add(name=f"{name}_add")([short, y])
    if preact:
        return y
    return activation_layer(y, block_activation(conv_args), name=f"{name}_out")


def _shortcut(x, source, *, filters, strides, kind, preact, name, conv_args):
    """The shortcut path; `source` is what a projection reads (the pre-activated x when preact)."""
    if kind not in ("A", "B", "C", "none"):
        raise ValueError(
            f"Layer '{name}': `shortcut` must be 'A', 'B', 'C' or 'none' (He et al. "
            f"2016, section 4.1). Received: shortcut={kind!r}"
        )
    if kind == "none":
        return None
    channels = x.shape[-1]
    if kind == "C" or (kind == "B" and channels != filters):
        if preact:
            return _bare_conv(
                source,
                filters=filters,
                kernel_size=1,
                strides=strides,
                name=f"{name}_shortcut",
                conv_args=conv_args,
            )
        return conv_bn_act(
            source,
            filters=filters,
            kernel_size=1,
            strides=strides,
            name=f"{name}_shortcut",
            **{**conv_args, "activation": None},
        )
    if channels > filters:
        raise ValueError(
            f"Layer '{name}_shortcut': shortcut 'A' can only add channels, not remove "
            f"them. Received: {channels} input channels, {filters} output channels; "
            f"use shortcut 'B'."
        )
    if strides != 1:
        x = keras.layers.MaxPooling2D(pool_size=1, strides=strides, name=f"{name}_shortcut_pool")(x)
    if channels < filters:
        x = ChannelPadding(filters - channels, name=f"{name}_shortcut_pad")(x)
    return x


def _bare_conv(x, *, conv_args, **kwargs):
    """A convolution alone: in pre-activation blocks the next unit's BN follows it, so no bias."""
    return conv_bn_act(x, **{**conv_args, "norm": None, "activation": None, "use_bias": False}, **kwargs)


def _width(value, name, what="width"):
    width = int(value)
    if width < 1:
        raise ValueError(
            f"Layer '{name}': the {what} works out to {value!r}, which leaves no "
            f"channel; check filters, width_factor and base_width."
        )
    return width
