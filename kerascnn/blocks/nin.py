"""Network in Network's mlpconv layer.

Lin, Chen & Yan, "Network In Network", ICLR 2014: a k x k convolution followed by 1x1 convolutions,
"a micro multilayer perceptron" sliding over the input; the 1x1 convolution starts here.
"""

from __future__ import annotations

from kerascnn.blocks.core import Padding, conv_bn_act


def mlpconv(
    x,
    *,
    filters: tuple[int, ...],
    kernel_size: int = 3,
    strides: int = 1,
    padding: Padding = "same",
    name: str,
    **conv_args,
):
    """One mlpconv layer: `conv(k x k, filters[0]) -> act -> conv1x1(filters[1]) -> act -> ...`.

    The NiN for CIFAR-10 stacks three, e.g. `filters=(192, 160, 96), kernel_size=5`. Each 1x1
    convolution is a fully connected layer applied at every position across channels.

    Layers: `{name}_conv1` (the k x k), `{name}_conv2`, `{name}_conv3`, ... (the 1x1s), each with its
    `_bn`/`_act`. The paper has no BN: give `norm="none"` for the original.

    Args:
        x: input tensor, channels last.
        filters: widths of the k x k convolution then of each 1x1 convolution.
        kernel_size: k.
        strides: stride of the k x k convolution.
        padding: padding of the k x k convolution (see `conv_bn_act`).
        name: prefix of every layer name.
        **conv_args: forwarded to `conv_bn_act`.
    """
    if not isinstance(filters, (tuple, list)) or not filters:
        raise ValueError(
            f"Layer '{name}': `filters` must list at least one width. Received: filters={filters!r}"
        )
    x = conv_bn_act(
        x,
        filters=filters[0],
        kernel_size=kernel_size,
        strides=strides,
        padding=padding,
        name=f"{name}_conv1",
        **conv_args,
    )
    for i, width in enumerate(filters[1:], start=2):
        x = conv_bn_act(x, filters=width, kernel_size=1, name=f"{name}_conv{i}", **conv_args)
    return x
