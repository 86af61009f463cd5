"""Channel attention, plugged into residual blocks by name (`attention="se"`).

Squeeze-and-excitation: Hu, Shen & Sun, "Squeeze-and-Excitation Networks", CVPR 2018.
"""

from __future__ import annotations

import keras

from kerascnn.blocks.core import activation_layer, check_activation, check_positive_int


def squeeze_excite(x, *, ratio: int = 16, activation: str = "relu", gate: str = "sigmoid", name: str):
    """Squeeze-and-excitation: rescale each channel by a gate computed from global context.

    `GAP -> FC(C / r) -> activation -> FC(C) -> sigmoid -> x * gate` (the paper's Fig. 2/3), with
    the two fully connected layers written as 1x1 convolutions on the pooled 1x1xC map (the same
    weights and multiply-adds). Layers: `{name}_squeeze`, `{name}_reduce`, `{name}_reduce_act`,
    `{name}_expand`, `{name}_gate`, `{name}_scale`.

    Cost: `2 C^2 / r` weights plus `C / r + C` biases (the paper counts the weights only).

    Args:
        x: input tensor, channels last, C channels.
        ratio: the reduction ratio r (16 in the paper); `C // r` must be at least 1.
        activation: between the two layers (ReLU in the paper).
        gate: the gating function (sigmoid in the paper).
        name: prefix of every layer name.
    """
    channels = x.shape[-1]
    check_positive_int(ratio, "ratio", name)
    if channels // ratio < 1:
        raise ValueError(
            f"Layer '{name}': squeeze-and-excitation with ratio={ratio} leaves no "
            f"channel of {channels}. Received: {channels} channels, ratio={ratio}; "
            f"use a ratio of at most {channels}."
        )
    check_activation(gate, name)
    s = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_squeeze")(x)
    s = keras.layers.Conv2D(channels // ratio, 1, name=f"{name}_reduce")(s)
    s = activation_layer(s, activation, name=f"{name}_reduce_act")
    s = keras.layers.Conv2D(channels, 1, name=f"{name}_expand")(s)
    s = activation_layer(s, gate, name=f"{name}_gate")
    return keras.layers.Multiply(name=f"{name}_scale")([x, s])


ATTENTION = {"se": squeeze_excite}


def apply_attention(x, attention: str | None, attention_args: dict | None, *, name: str):
    """Apply the attention module registered as `attention` (None: none), layers named `name`."""
    if attention is None:
        if attention_args:
            raise ValueError(
                f"Layer '{name}': `attention_args` given without `attention`. "
                f"Received: attention_args={attention_args!r}"
            )
        return x
    if attention not in ATTENTION:
        raise ValueError(
            f"Layer '{name}': unknown attention {attention!r}. Allowed: {sorted(ATTENTION)}."
        )
    return ATTENTION[attention](x, name=name, **(attention_args or {}))
