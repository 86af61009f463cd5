"""The compact layer notation of the VGG paper's Table 1, extended just enough for the other classics.

A plain stack is a list of strings, each a layer and optional modifiers separated by spaces:

| item                   | layer                                                                  |
|------------------------|------------------------------------------------------------------------|
| `conv3-64`             | 3x3 convolution, 64 filters, "same" padding, stride 1 (+ BN, act)      |
| `conv1x7-128`          | a 1x7 convolution                                                      |
| `FC-4096`              | fully connected layer (+ act); needs a flattened input                 |
| `maxpool`, `avgpool`   | 2x2 pooling, stride 2 (VGG); `maxpool3 s2` is AlexNet's overlapping 3x3/2 |
| `gap`, `gmp`           | global average / max pooling                                           |
| `LRN`                  | local response normalization (AlexNet's constants)                     |
| `dropout-0.5`          | dropout                                                                |
| `flatten`, `bn`        | flatten; batch normalization                                           |
| `relu`, `tanh`, ...    | an activation layer (any Keras activation name)                        |

Modifiers: `s2` stride, `p1` padding (an int pads every side), `same`/`valid` padding, `g2` groups, `d2`
dilation, `bias`/`nobias`, `bn`/`nobn`, `preact`, `linear` (no activation), `act=tanh`; LRN takes
`n=5 alpha=1e-4 beta=0.75 k=2`. Names are case-insensitive (`LRN`, `FC-4096` as in the paper).

AlexNet's first layers: `["conv11-96 s4 p0", "LRN", "maxpool3 s2", "conv5-256 g2", ...]`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import keras

from kerascnn.blocks.core import activation_layer, conv_bn_act, dropout_layer, pool_layer
from kerascnn.config.errors import did_you_mean
from kerascnn.layers import LocalResponseNormalization, get_activation

EXAMPLES = (
    "conv3-64",
    "conv11-96 s4 p0",
    "FC-4096",
    "maxpool",
    "maxpool3 s2",
    "avgpool",
    "gap",
    "gmp",
    "LRN",
    "dropout-0.5",
    "flatten",
    "bn",
    "relu",
)

_HEADS = [
    ("conv", re.compile(r"^conv(\d+)(?:x(\d+))?-(\d+)$")),
    ("fc", re.compile(r"^fc-(\d+)$")),
    ("pool", re.compile(r"^(max|avg)pool(\d+)?$")),
    ("dropout", re.compile(r"^dropout-(\d*\.?\d+(?:e-?\d+)?)$")),
]
_SIMPLE = {"gap": "gap", "gmp": "gmp", "lrn": "lrn", "flatten": "flatten", "bn": "bn"}
_ACT_ALIASES = {"soft-max": "softmax"}

# modifier -> (kinds that accept it)
_FLAGS = {
    "same": ("conv", "pool"),
    "valid": ("conv", "pool"),
    "bias": ("conv",),
    "nobias": ("conv",),
    "bn": ("conv",),
    "nobn": ("conv",),
    "preact": ("conv",),
    "linear": ("conv", "fc"),
}
_NUMBERED = {"s": ("conv", "pool"), "p": ("conv", "pool"), "g": ("conv",), "d": ("conv",)}
_KEYED = {"act": ("conv", "fc"), "n": ("lrn",), "alpha": ("lrn",), "beta": ("lrn",), "k": ("lrn",)}


@dataclass(frozen=True)
class LayerSpec:
    """One parsed notation item: its kind and the arguments for building it."""

    kind: str  # conv, fc, pool, gap, gmp, lrn, dropout, flatten, bn, act
    args: dict = field(default_factory=dict)
    text: str = ""

    @property
    def name_kind(self) -> str:
        """The word in generated layer names: `stage1_conv2`, `stage1_pool1`, `head_fc1`."""
        return {"dropout": "drop", "gap": "pool", "gmp": "pool"}.get(self.kind, self.kind)


def parse_layer(text: str) -> LayerSpec:
    """Parse one notation item.

    Raises:
        ValueError: with a message naming the unknown word and a close match when there is one.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"expected a layer such as 'conv3-64'. Received: {text!r}.")
    head, *modifiers = text.strip().split()
    kind, args = _parse_head(head.lower(), text)
    for modifier in modifiers:
        _apply_modifier(kind, args, modifier, text)
    return LayerSpec(kind=kind, args=args, text=text)


def _parse_head(head: str, text: str) -> tuple[str, dict]:
    for kind, pattern in _HEADS:
        match = pattern.match(head)
        if not match:
            continue
        if kind == "conv":
            k1, k2, filters = match.groups()
            kernel = (int(k1), int(k2)) if k2 else int(k1)
            return "conv", {"filters": _positive(filters, "filters", text), "kernel_size": kernel}
        if kind == "fc":
            return "fc", {"units": _positive(match.group(1), "units", text)}
        if kind == "pool":
            size = int(match.group(2)) if match.group(2) else 2
            return "pool", {"kind": match.group(1), "pool_size": _positive(size, "pool size", text)}
        rate = float(match.group(1))
        if not 0 <= rate < 1:
            raise ValueError(f"the dropout rate must be in [0, 1). Received: {text!r}.")
        return "dropout", {"rate": rate}
    if head in _SIMPLE:
        return _SIMPLE[head], {}
    activation = _ACT_ALIASES.get(head, head)
    if _is_activation(activation):
        return "act", {"activation": activation}
    hint = did_you_mean(head, ["conv3-64", "fc-4096", "maxpool", "avgpool", "dropout-0.5", *_SIMPLE])
    where = f" in {text!r}" if len(text.split()) > 1 else ""
    raise ValueError(
        f"unknown layer {head!r}{where}. Known forms: "
        f"{', '.join(EXAMPLES)} (any Keras activation name is a layer too)."
        + (f" Hint: {hint[0].upper()}{hint[1:]}" if hint else "")
    )


def _apply_modifier(kind: str, args: dict, modifier: str, text: str) -> None:
    low = modifier.lower()
    if low in _FLAGS:
        _allowed(low, _FLAGS[low], kind, text)
        if low in ("same", "valid"):
            args["padding"] = low
        elif low in ("bias", "nobias"):
            args["use_bias"] = low == "bias"
        elif low in ("bn", "nobn"):
            args["norm"] = "batch" if low == "bn" else None
        elif low == "preact":
            args["preact"] = True
        elif low == "linear":
            args["activation"] = None
        return
    if "=" in low:
        key, _, value = modifier.partition("=")
        key = key.lower()
        if key not in _KEYED:
            raise ValueError(
                f"unknown modifier {modifier!r} in {text!r}. "
                f"Keyed modifiers: {', '.join(k + '=' for k in _KEYED)}."
            )
        _allowed(modifier, _KEYED[key], kind, text)
        if key == "act":
            if not _is_activation(value):
                raise ValueError(f"unknown activation {value!r} in {text!r}.")
            args["activation"] = None if value == "linear" else value
        elif key == "n":
            args["size"] = _positive(value, "n", text)
        else:
            try:
                args[key] = float(value)
            except ValueError:
                raise ValueError(
                    f"{key} must be a number. Received: {modifier!r} in {text!r}."
                ) from None
        return
    match = re.match(r"^([spgd])(\d+)$", low)
    if match:
        letter, number = match.groups()
        _allowed(modifier, _NUMBERED[letter], kind, text)
        value = int(number)
        key = {"s": "strides", "p": "padding", "g": "groups", "d": "dilation_rate"}[letter]
        args[key] = value if letter == "p" else _positive(value, key, text)
        return
    hint = did_you_mean(low, [*_FLAGS, "s2", "p1", "g2", "d2", *(k + "=" for k in _KEYED)])
    raise ValueError(
        f"unknown modifier {modifier!r} in {text!r}. Modifiers: s<stride>, p<pad>, "
        f"g<groups>, d<dilation>, same, valid, bias, nobias, bn, nobn, preact, linear, "
        f"act=<name>; LRN: n=, alpha=, beta=, k=."
        + (f" Hint: {hint[0].upper()}{hint[1:]}" if hint else "")
    )


def _allowed(modifier, kinds, kind, text):
    if kind not in kinds:
        raise ValueError(
            f"modifier {modifier!r} does not apply to a {kind} layer ({text!r}); "
            f"it applies to: {', '.join(kinds)}."
        )


def _positive(value, what, text) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(f"{what} must be at least 1. Received: {text!r}.")
    return number


def _is_activation(name: str) -> bool:
    try:
        get_activation(name)
        return True
    except ValueError:
        return False


def build_layer(x, layer: LayerSpec, *, name: str, defaults: dict | None = None):
    """Build one parsed notation item named `name`; `defaults` are network-wide convolution arguments."""
    defaults = defaults or {}
    args = layer.args
    if layer.kind == "conv":
        return conv_bn_act(x, name=name, **{**defaults, **args})
    if layer.kind == "fc":
        if len(x.shape) != 2:
            raise ValueError(
                f"'{layer.text}' needs a flattened input but receives shape "
                f"{tuple(x.shape)}; put 'flatten' (or 'gap') before it."
            )
        x = keras.layers.Dense(args["units"], name=name)(x)
        return activation_layer(
            x, args.get("activation", defaults.get("activation", "relu")), name=f"{name}_act"
        )
    if layer.kind == "pool":
        return pool_layer(x, name=name, **args)
    if layer.kind == "gap":
        return keras.layers.GlobalAveragePooling2D(name=name)(x)
    if layer.kind == "gmp":
        return keras.layers.GlobalMaxPooling2D(name=name)(x)
    if layer.kind == "lrn":
        return LocalResponseNormalization(name=name, **args)(x)
    if layer.kind == "dropout":
        return dropout_layer(x, args["rate"], name=name)
    if layer.kind == "flatten":
        return keras.layers.Flatten(name=name)(x)
    if layer.kind == "bn":
        return keras.layers.BatchNormalization(
            momentum=defaults.get("bn_momentum", 0.9),
            epsilon=defaults.get("bn_epsilon", 1e-5),
            name=name,
        )(x)
    if layer.kind == "act":
        return activation_layer(x, args["activation"], name=name)
    raise AssertionError(f"unhandled layer kind {layer.kind!r}")  # parse_layer only makes the above
