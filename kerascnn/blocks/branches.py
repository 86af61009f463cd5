"""Multi-branch blocks written as data: parallel stacks of notation layers, concatenated on channels.

The Inception family after GoogLeNet (Szegedy et al., "Rethinking the Inception Architecture", CVPR 2016;
"Inception-v4, Inception-ResNet and the Impact of Residual Connections on Learning", AAAI 2017) is a
zoo of modules that differ only in their branches: which convolutions (1x1, 3x3, factorized 1x7/7x1),
which pooling, which strides. Writing each as a function repeats one pattern dozens of times; here a
module is data, a list of branches, each a list of layers in the spec notation
(`kerascnn.blocks.notation`):

    branches = [["conv1-96"],
                ["conv1-64", "conv3-96"],
                ["conv1-64", "conv3-96", "conv3-96"],
                ["avgpool3 s1 same", "conv1-96"]]         # Inception-v4's Inception-A (Figure 4)

A branch may fork: an item that is itself a list of branches splits the branch and concatenates the
parts (Inception-v4's Inception-C: `["conv1-384", [["conv1x3-256"], ["conv3x1-256"]]]`).

`inception_resnet_block` adds the Inception-ResNet form: the concatenation is projected back to the
input's channels by a linear 1x1 convolution (with bias, no BN), scaled (0.1-0.3 in the paper, section
3.3, to keep very wide residual networks stable) and added to the input.
"""

from __future__ import annotations

from typing import Any

import keras

from kerascnn.blocks.core import activation_layer, block_activation, conv_bn_act
from kerascnn.blocks.notation import build_layer, parse_layer
from kerascnn.layers import DropPath, ScaledAdd

# Notation kinds a branch may contain: those that keep a feature map a feature map.
_SPATIAL = ("conv", "pool", "lrn", "dropout", "bn", "act")


def branches(x, *, branches: list[list[Any]], name: str, **conv_args):
    """Parallel branches of notation layers, concatenated on channels (an Inception-style module).

    Args:
        x: input tensor, channels last.
        branches: a list of branches; a branch is a list of notation strings (`"conv1x7-224"`,
            `"maxpool3 s2"`, `"avgpool3 s1 same"`) and forks (a list of branches whose outputs are
            concatenated and continue the branch). Every branch must end at the same height and width.
        name: prefix of every layer name.
        **conv_args: forwarded to every convolution (`CONV_ARGS`: norm, activation, bn_epsilon ...).

    Layers: branch i (counting from 1) names its layers `{name}_b{i}_{kind}{n}` (`mixed5b_b3_conv2`,
    `mixed5b_b4_pool1`); a fork inside branch i has sub-branches `{name}_b{i}a`, `{name}_b{i}b`, ...
    joined by `{name}_b{i}_concat`; the module's output is `{name}_concat`.
    """
    check_branches(branches, name)
    return _concat(x, branches, _numbered(name, len(branches)), conv_args, output=f"{name}_concat")


def inception_resnet_block(
    x,
    *,
    branches: list[list[Any]],
    scale: float = 1.0,
    final_activation: bool = True,
    drop_path: float = 0.0,
    name: str,
    **conv_args,
):
    """An Inception-ResNet block: `act(x + scale * conv1x1(concat(branches(x))))`.

    Szegedy, Ioffe, Vanhoucke & Alemi, "Inception-v4, Inception-ResNet and the Impact of Residual
    Connections on Learning", AAAI 2017, Figures 16-19 (Inception-ResNet-v2's 35x35, 17x17 and 8x8
    blocks) and section 3.3 (scaling the residual by 0.1-0.3 before the addition). The 1x1 "filter
    expansion" projects the concatenation back to the input's channels; it is linear, with a bias and
    no BN, as in the authors' TF-slim code and keras.applications. `final_activation=False` leaves out
    the ReLU after the addition (the last 8x8 block of Inception-ResNet-v2, scale 1.0).

    `drop_path`: stochastic depth on the residual (Huang et al. 2016; `{name}_drop_path`, a
    `DropPath` before the addition).

    Layers: the branches as in `branches` (`{name}_b{i}_...`, `{name}_concat`), then `{name}_proj`
    (the 1x1), `{name}_add` (a `ScaledAdd`) and `{name}_act`.
    """
    check_branches(branches, name)
    if not isinstance(scale, (int, float)) or isinstance(scale, bool) or scale <= 0:
        raise ValueError(f"Layer '{name}': `scale` must be a positive number. Received: scale={scale!r}")
    mixed = _concat(x, branches, _numbered(name, len(branches)), conv_args, output=f"{name}_concat")
    linear = {**conv_args, "norm": None, "activation": None, "use_bias": True}
    up = conv_bn_act(mixed, filters=x.shape[-1], kernel_size=1, name=f"{name}_proj", **linear)
    if drop_path:
        up = DropPath(drop_path, name=f"{name}_drop_path")(up)
    y = ScaledAdd(scale, name=f"{name}_add")([x, up])
    if final_activation:
        y = activation_layer(y, block_activation(conv_args), name=f"{name}_act")
    return y


class BranchError(ValueError):
    """A malformed branch list; `item` is the offending notation string (for locating it in a file)."""

    def __init__(self, message: str, *, item=None):
        super().__init__(message)
        self.item = item


def check_branches(value, name: str) -> None:
    """Raise a ValueError naming the block and the branch unless `value` is a well-formed branch list.

    Called by spec validation before anything is built, and by the blocks themselves.
    """
    _check_list(value, name, where="`branches`")


def _check_args(*, branches, name: str, **_) -> None:
    check_branches(branches, name)


# Spec validation calls a block's `check_args(name=..., **arguments)` before anything is built.
branches.check_args = _check_args
inception_resnet_block.check_args = _check_args


def _check_list(value, name, where):
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(
            f"Layer '{name}': {where} must be a non-empty list of branches (lists of "
            f"layers such as 'conv1-64'). Received: {value!r}"
        )
    for i, branch in enumerate(value, start=1):
        here = f"{where} branch {i}"
        if not isinstance(branch, (list, tuple)) or not branch:
            raise ValueError(
                f"Layer '{name}': {here} must be a non-empty list of layers. Received: {branch!r}"
            )
        for item in branch:
            if isinstance(item, (list, tuple)):
                _check_list(item, name, where=f"{here}'s fork")
                continue
            try:
                layer = parse_layer(item)
            except ValueError as e:
                raise BranchError(f"Layer '{name}': {here}: {e}", item=item) from None
            if layer.kind not in _SPATIAL:
                raise BranchError(
                    f"Layer '{name}': {here}: {item!r} does not keep a feature map; "
                    f"branches hold {', '.join(_SPATIAL)} layers.",
                    item=item,
                )


def _concat(x, branch_list, prefixes, conv_args, *, output):
    """Build each branch from `x` under its prefix and concatenate them as `output`."""
    outputs = [_branch(x, branch, prefix, conv_args) for branch, prefix in zip(branch_list, prefixes)]
    if len(outputs) == 1:
        return outputs[0]
    sizes = {tuple(o.shape[1:3]) for o in outputs}
    if len(sizes) > 1:
        got = ", ".join(
            f"branch {i}: {'x'.join(map(str, o.shape[1:3]))}" for i, o in enumerate(outputs, start=1)
        )
        raise ValueError(
            f"Layer '{output}': branches must end at the same height and width to be "
            f"concatenated. Received: {got}."
        )
    return keras.layers.Concatenate(axis=-1, name=output)(outputs)


def _numbered(prefix, count):
    return [f"{prefix}_b{i}" for i in range(1, count + 1)]


def _branch(x, branch, prefix, conv_args):
    counts: dict[str, int] = {}
    forks = 0
    for item in branch:
        if isinstance(item, (list, tuple)):  # a fork: sub-branches {prefix}a, {prefix}b, ...
            forks += 1
            fork = prefix if forks == 1 else f"{prefix}f{forks}"
            x = _concat(
                x,
                item,
                [f"{fork}{letter}" for letter in "abcdefghijklmnopqrstuvwxyz"],
                conv_args,
                output=f"{fork}_concat",
            )
            continue
        layer = parse_layer(item)
        counts[layer.name_kind] = counts.get(layer.name_kind, 0) + 1
        x = build_layer(
            x, layer, name=f"{prefix}_{layer.name_kind}{counts[layer.name_kind]}", defaults=conv_args
        )
    return x
