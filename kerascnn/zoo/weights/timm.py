"""Weights from timm (pytorch-image-models), ported exactly into the zoo's models.

timm publishes ImageNet weights for the classic networks as `model.safetensors` files on the Hugging
Face Hub (`timm/<architecture>.<tag>`): a PyTorch state dict, tensor by tensor. `load_timm_weights`
puts such a state dict into the kerascnn model of the same architecture, built in the arrangement the
weights were trained in, so that the model computes what timm computes (tests/test_timm_port.py: the
logits of timm itself, to 1e-4 of their scale).

What each layout maps (timm's key prefix -> kerascnn's layer name; every tensor converted from
PyTorch's layout: a convolution kernel `[out, in/groups, kh, kw]` -> `[kh, kw, in/groups, out]`, a
linear `[out, in]` -> `[in, out]`, BN `weight, bias, running_mean, running_var` -> `gamma, beta,
moving_mean, moving_variance`, the variance shifted by the difference of the two BN epsilons):

| layout | timm | kerascnn |
|---|---|---|
| resnet (resnet18-152, resnext, wide_resnet50_2, seresnet50, seresnext50_32x4d) | `conv1`, `bn1`; `layer{i}.{j}.conv{k}` / `.bn{k}`; `.downsample.0` / `.1`; `.se.fc1` / `.fc2`; `fc` | `stem_conv`, `stem_conv_bn`; `stage{i}_block{j+1}_conv{k}` / `_bn`; `_shortcut` / `_shortcut_bn`; `_se_reduce` / `_se_expand`; `head_logits` |
| legacy_senet (legacy_seresnet50: the SENet authors' Caffe weights) | `layer0.conv1`, `layer0.bn1`; as resnet but `.se_module`; `last_linear` | as resnet |
| densenet (densenet121/169/201) | `features.conv0`, `.norm0`; `features.denseblock{i}.denselayer{j}.norm{k}` / `.conv{k}`; `features.transition{i}.norm` / `.conv`; `features.norm5`; `classifier` | `stem_conv`, `stem_conv_bn`; `stage{i}_dense_layer{j}_conv{k}_bn` / `_conv{k}`; `stage{i+1}_transition_conv_bn` / `_conv` (kerascnn opens a stage with the transition timm closes the previous block with); `post_bn1`; `head_logits` |
| vgg (vgg11-19) | `features.{n}` (numbered with the ReLUs and pools); `pre_logits.fc1` (a 7x7 convolution), `pre_logits.fc2` (1x1), `head.fc` | the k-th convolution takes the k-th `features.{n}`; `head_fc1`, `head_fc2` (Dense on the flattened 7x7x512 map: the kernel `[4096, 512, 7, 7]` reordered to rows `(h * 7 + w) * 512 + c`), `head_logits` |
| inception_v4 | `features.{0..21}` (each a BasicConv2d `.conv` + `.bn`, or a module of `branch{b}` / `branch{b}.{i}` / `branch{b}_{i}{a,b}`); `last_linear` | `stem_conv{n}`, `stem_mixed{3a,4a,5a}`, `stage1_block{j}` (Inception-A), `stage2_reduction`, `stage2_block{j}` (B), `stage3_reduction`, `stage3_block{j}` (C), their `b{b+1}[a,b]_conv{i}`; `head_logits` |
| inception_resnet_v2 | `conv2d_{1a,2a,2b,3b,4a}`, `mixed_5b`, `repeat.{j}`, `mixed_6a`, `repeat_1.{j}`, `mixed_7a`, `repeat_2.{j}`, `block8`, `conv2d_7b`; each residual module's `conv2d` (with bias); `classif` | `stem_conv1..5`, `stage1_mixed5b`, `stage1_block{j}`, `stage2_reduction`, `stage2_block{j}`, `stage3_reduction`, `stage3_block1..9` and `stage3_block10` (block8, no ReLU), `stage3_conv1`; `_proj` for `conv2d`; `head_logits` |

The arrangement (`ARCHITECTURES[...].options`): timm's ResNets stride on the bottleneck's 3x3
(`stride_on="3x3"`, torchvision's "v1.5"); the SENet authors' on the 1x1, as the paper, and their stem
pools in Caffe's ceil mode (`stem_pool="ceil"`). kerascnn pads strided convolutions and poolings
symmetrically as PyTorch does (explicit `ZeroPadding2D`, never Keras' `padding="same"` at a stride,
which pads more at the bottom and right); the Inceptions' strided layers use no padding in both, and
their stride-1 average pools exclude the padding from the count in both (`count_include_pad=False`,
Keras' "same"). BN epsilons: 1e-5 (the ResNets, DenseNets), 1e-3 (the Inceptions, from TF-slim).

Which layout a file holds is read from its keys (`layer0.conv1.weight`: the legacy SENet naming).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kerascnn.config import ConfigError, first_line
from kerascnn.config.limits import check_safetensors
from kerascnn.zoo.weights.channels import adapt_input_channels

__all__ = [
    "TimmArchitecture",
    "ARCHITECTURES",
    "read_state_dict",
    "detect_layout",
    "load_timm_weights",
    "architecture_for",
]


@dataclass(frozen=True)
class TimmArchitecture:
    """One timm architecture: the kerascnn model that computes the same function, the build options
    of the arrangement its weights were trained in, and how its state dict names the tensors."""

    timm: str
    model: str
    layout: str
    options: dict = field(default_factory=dict)


def _architectures() -> dict[str, TimmArchitecture]:
    table = {}
    v15 = {"stride_on": "3x3"}
    for depth in (18, 34):
        table[f"resnet{depth}"] = TimmArchitecture(f"resnet{depth}", f"resnet{depth}", "resnet")
    for depth in (50, 101, 152):
        table[f"resnet{depth}"] = TimmArchitecture(f"resnet{depth}", f"resnet{depth}", "resnet", v15)
    for name in ("resnext50_32x4d", "resnext101_32x8d", "wide_resnet50_2"):
        table[name] = TimmArchitecture(name, name, "resnet")  # stride on the 3x3 already
    table["seresnet50"] = TimmArchitecture("seresnet50", "se_resnet50", "resnet", v15)
    table["seresnext50_32x4d"] = TimmArchitecture("seresnext50_32x4d", "se_resnext50_32x4d", "resnet")
    table["legacy_seresnet50"] = TimmArchitecture(
        "legacy_seresnet50", "se_resnet50", "legacy_senet", {"stem_pool": "ceil"}
    )
    for depth in (121, 169, 201):
        table[f"densenet{depth}"] = TimmArchitecture(f"densenet{depth}", f"densenet{depth}", "densenet")
    for depth in (11, 13, 16, 19):
        table[f"vgg{depth}"] = TimmArchitecture(f"vgg{depth}", f"vgg{depth}", "vgg")
    table["inception_v4"] = TimmArchitecture("inception_v4", "inception_v4", "inception_v4")
    table["inception_resnet_v2"] = TimmArchitecture(
        "inception_resnet_v2", "inception_resnet_v2", "inception_resnet_v2"
    )
    return table


ARCHITECTURES: dict[str, TimmArchitecture] = _architectures()


# --- reading a state dict --------------------------------------------------------------------------


def read_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """A `model.safetensors` file's tensors as float32 NumPy arrays (no torch needed).

    Raises:
        ConfigError: no such file, or not a complete safetensors file (truncated, another format).
    """
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no weights file at {str(path)!r}.")
    check_safetensors(path)  # the header it declares, before safetensors reads it
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise ConfigError(
            f"{str(path)!r} is not a complete safetensors file (truncated, or another "
            f"format): {first_line(e)}"
        ) from None
    return {
        key: np.asarray(value, dtype="float32")
        for key, value in state.items()
        if not key.endswith("num_batches_tracked")
    }


def detect_layout(keys) -> str | None:
    """The timm layout a state dict's keys follow, or None."""
    keys = set(keys)
    if "layer0.conv1.weight" in keys:
        return "legacy_senet"
    if "conv1.weight" in keys and "layer1.0.conv1.weight" in keys:
        return "resnet"
    if "features.conv0.weight" in keys and "classifier.weight" in keys:
        return "densenet"
    if "pre_logits.fc1.weight" in keys and "features.0.weight" in keys:
        return "vgg"
    if "features.0.conv.weight" in keys and "last_linear.weight" in keys:
        return "inception_v4"
    if "conv2d_1a.conv.weight" in keys and "block8.conv2d.weight" in keys:
        return "inception_resnet_v2"
    return None


def architecture_for(model: str, layout: str, *, source: str) -> TimmArchitecture:
    """The timm architecture whose `layout` fits the kerascnn `model` (se_resnet50 takes timm's
    current SE-ResNet naming or the SENet authors')."""
    found = [a for a in ARCHITECTURES.values() if a.model == model]
    if not found:
        known = sorted({a.model for a in ARCHITECTURES.values()})
        raise ConfigError(f"kerascnn has no timm port for {model!r}; it ports {', '.join(known)}.")
    for architecture in found:
        if architecture.layout == layout:
            return architecture
    raise ConfigError(
        f"{source} holds timm weights in the {layout or 'an unknown'} layout, which "
        f"{model!r} cannot take (it takes {', '.join(a.layout for a in found)}): "
        f"a file for another architecture?"
    )


# --- from kerascnn layer names to timm keys --------------------------------------------------------


def _rules(rules) -> Callable[[str], str | None]:
    """A layer name -> timm key prefix function from (regex, template) rules; in a template `{i}`
    is the regex's i-th group and `{i-}` that number minus one (kerascnn counts from 1, PyTorch's
    Sequential from 0)."""
    compiled = [(re.compile(pattern + "$"), template) for pattern, template in rules]

    def key(name: str) -> str | None:
        for pattern, template in compiled:
            match = pattern.match(name)
            if match:
                out = template
                for i, value in enumerate(match.groups()):
                    out = out.replace(f"{{{i}-}}", str(int(value) - 1)).replace(f"{{{i}}}", value)
                return out
        return None

    return key


def _resnet_key(model, state, legacy: bool) -> Callable[[str], str | None]:
    se = "se_module" if legacy else "se"
    rules = [
        (r"stem_conv", "layer0.conv1" if legacy else "conv1"),
        (r"stem_conv_bn", "layer0.bn1" if legacy else "bn1"),
        (r"stage(\d+)_block(\d+)_conv(\d)", "layer{0}.{1-}.conv{2}"),
        (r"stage(\d+)_block(\d+)_conv(\d)_bn", "layer{0}.{1-}.bn{2}"),
        (r"stage(\d+)_block(\d+)_shortcut", "layer{0}.{1-}.downsample.0"),
        (r"stage(\d+)_block(\d+)_shortcut_bn", "layer{0}.{1-}.downsample.1"),
        (r"stage(\d+)_block(\d+)_se_reduce", "layer{0}.{1-}." + se + ".fc1"),
        (r"stage(\d+)_block(\d+)_se_expand", "layer{0}.{1-}." + se + ".fc2"),
        (r"head_logits", "last_linear" if legacy else "fc"),
    ]
    return _rules(rules)


def _densenet_key(model, state) -> Callable[[str], str | None]:
    # kerascnn's stage i (2..4) opens with the transition that follows timm's dense block i-1.
    return _rules(
        [
            (r"stem_conv", "features.conv0"),
            (r"stem_conv_bn", "features.norm0"),
            (r"stage(\d+)_dense_layer(\d+)_conv(\d)_bn", "features.denseblock{0}.denselayer{1}.norm{2}"),
            (r"stage(\d+)_dense_layer(\d+)_conv(\d)", "features.denseblock{0}.denselayer{1}.conv{2}"),
            (r"stage(\d+)_transition_conv_bn", "features.transition{0-}.norm"),
            (r"stage(\d+)_transition_conv", "features.transition{0-}.conv"),
            (r"post_bn1", "features.norm5"),
            (r"head_logits", "classifier"),
        ]
    )


def _vgg_key(model, state) -> Callable[[str], str | None]:
    """timm's VGG numbers its `features` Sequential by position, ReLUs and pools included: the
    k-th convolution of the network is the k-th `features.<n>.weight` in the file. Its classifier
    is stored as convolutions: `pre_logits.fc1` (7x7, 512 -> 4096), `pre_logits.fc2` (1x1), then
    `head.fc`; kerascnn's are Dense layers on the flattened 7x7x512 map (see `_dense_from_conv`)."""
    import keras

    positions = sorted(
        int(m.group(1)) for k in state for m in [re.fullmatch(r"features\.(\d+)\.weight", k)] if m
    )
    convs = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    table = dict(zip(convs, (f"features.{n}" for n in positions)))
    table.update({"head_fc1": "pre_logits.fc1", "head_fc2": "pre_logits.fc2", "head_logits": "head.fc"})
    return table.get


_BRANCH = re.compile(r"(?P<block>.+?)_b(?P<branch>\d)(?P<split>[ab]?)_conv(?P<n>\d)$")


def _inception_key(module_of: Callable[[str, dict], str | None]):
    """Inception-v4 and Inception-ResNet-v2 as timm holds them (ported from TF-slim by Cadene):
    every convolution a `BasicConv2d` (`<prefix>.conv` without bias, `<prefix>.bn`, eps 0.001),
    the branches of a module `branch0`, `branch1`, ... (kerascnn's `b1`, `b2`, ...), a branch of
    several layers a Sequential (`branch1.0`, `branch1.1`; `branch3.1` behind a pooling at 0),
    Inception-C's split branches `branch1_0`, `branch1_1a`, `branch1_1b`; the residual modules'
    1x1 projection `conv2d` (with bias; kerascnn's `proj`). `module_of(block, state)` gives the
    timm module of a kerascnn block prefix (`stage2_block3` -> `features.13`); which form a branch
    takes is read from the file's keys."""

    def key_of(model, state):
        import keras

        plain: dict[tuple[str, str], int] = {}  # (block, branch) -> its unsplit convolutions
        for layer in model.layers:
            match = _BRANCH.match(layer.name)
            if match and not match["split"]:
                slot = (match["block"], match["branch"])
                plain[slot] = max(plain.get(slot, 0), int(match["n"]))

        def conv_prefix(name):
            if name.endswith("_proj"):
                module = module_of(name[: -len("_proj")], state)
                return module and f"{module}.conv2d"
            match = _BRANCH.match(name)
            if match is None:
                return module_of(name, state)  # a convolution that is a module of its own
            module = module_of(match["block"], state)
            if module is None:
                return None
            branch, n = int(match["branch"]) - 1, int(match["n"])
            if match["split"]:
                candidates = [
                    f"branch{branch}_{plain.get((match['block'], match['branch']), 0)}{match['split']}"
                ]
            else:
                candidates = ([f"branch{branch}"] if n == 1 else []) + [
                    f"branch{branch}.{n - 1}",
                    f"branch{branch}.{n}",
                    f"branch{branch}_{n - 1}",
                ]
            for candidate in candidates:
                if f"{module}.{candidate}.conv.weight" in state:
                    return f"{module}.{candidate}"
            if f"{module}.conv.conv.weight" in state:  # a module holding one convolution
                return f"{module}.conv"
            return None

        def key(name):
            if name == "head_logits":
                return module_of(name, state)
            layer = model.get_layer(name)
            if isinstance(layer, keras.layers.BatchNormalization):
                prefix = conv_prefix(name[: -len("_bn")]) if name.endswith("_bn") else None
                return prefix and f"{prefix}.bn"
            prefix = conv_prefix(name)
            return prefix if name.endswith("_proj") else (prefix and f"{prefix}.conv")

        return key

    return key_of


def _inception_v4_module(block: str, state) -> str | None:
    starts = {"stage1_block": 5, "stage2_block": 10, "stage3_block": 18}
    fixed = {
        "stem_mixed3a": "features.3",
        "stem_mixed4a": "features.4",
        "stem_mixed5a": "features.5",
        "stage2_reduction": "features.10",
        "stage3_reduction": "features.18",
        "head_logits": "last_linear",
    }
    if block in fixed:
        return fixed[block]
    match = re.fullmatch(r"stem_conv(\d)", block)
    if match:
        return f"features.{int(match[1]) - 1}"
    match = re.fullmatch(r"(stage\d_block)(\d+)", block)
    if match and match[1] in starts:
        return f"features.{starts[match[1]] + int(match[2])}"
    return None


def _inception_resnet_v2_module(block: str, state) -> str | None:
    fixed = {
        "stage1_mixed5b": "mixed_5b",
        "stage2_reduction": "mixed_6a",
        "stage3_reduction": "mixed_7a",
        "stage3_conv1": "conv2d_7b",
        "head_logits": "classif",
    }
    if block in fixed:
        return fixed[block]
    match = re.fullmatch(r"stem_conv(\d)", block)
    if match:
        stem = ["conv2d_1a", "conv2d_2a", "conv2d_2b", "conv2d_3b", "conv2d_4a"]
        return stem[int(match[1]) - 1] if int(match[1]) <= len(stem) else None
    match = re.fullmatch(r"stage(\d)_block(\d+)", block)
    if match:
        repeat = {"1": "repeat", "2": "repeat_1", "3": "repeat_2"}[match[1]]
        module = f"{repeat}.{int(match[2]) - 1}"
        if f"{module}.conv2d.weight" in state:
            return module
        if match[1] == "3":  # the tenth Block8, without its ReLU, stands alone in timm
            return "block8"
    return None


KEYS = {
    "resnet": lambda model, state: _resnet_key(model, state, legacy=False),
    "legacy_senet": lambda model, state: _resnet_key(model, state, legacy=True),
    "densenet": _densenet_key,
    "vgg": _vgg_key,
    "inception_v4": _inception_key(_inception_v4_module),
    "inception_resnet_v2": _inception_key(_inception_resnet_v2_module),
}
HEADS = {
    "resnet": "fc",
    "legacy_senet": "last_linear",
    "densenet": "classifier",
    "vgg": "head.fc",
    "inception_v4": "last_linear",
    "inception_resnet_v2": "classif",
}
# BN epsilons: PyTorch's default, which timm's ResNets, DenseNets keep; TF-slim's for the Inceptions.
BN_EPSILON = {"inception_v4": 1e-3, "inception_resnet_v2": 1e-3}


# --- loading ---------------------------------------------------------------------------------------


def load_timm_weights(
    model,
    state: dict[str, np.ndarray],
    architecture: TimmArchitecture,
    *,
    source: str,
    head: bool = True,
) -> None:
    """Set every weight of `model` (built as `architecture.model` with `architecture.options`) from
    timm's state dict, converting layouts; with `head=False` the classifier is left as built (another
    number of classes, or a backbone) and the file's classifier is not used.

    Raises:
        ConfigError: naming the network, the key and the shapes, when the file lacks a tensor the
            network needs, holds one of another shape, or holds tensors the network does not have
            (a file for another architecture).
    """
    import keras

    key_of = KEYS[architecture.layout](model, state)
    head_key = HEADS[architecture.layout]
    used = set()
    first_conv = True
    for layer in model.layers:
        if not layer.weights:
            continue
        prefix = key_of(layer.name)
        if prefix is None:
            raise ConfigError(
                f"{model.name}'s layer {layer.name!r} has no counterpart in timm's "
                f"{architecture.timm} ({architecture.layout} layout); kerascnn cannot "
                f"port these weights into this model."
            )
        if prefix == head_key and not head:
            continue
        if isinstance(layer, keras.layers.BatchNormalization):
            arrays = _batchnorm(
                layer, prefix, state, source, model.name, used, BN_EPSILON.get(architecture.layout, 1e-5)
            )
        elif isinstance(layer, keras.layers.Conv2D):
            kernel = _take(state, f"{prefix}.weight", source, model.name, layer.name, used)
            if kernel.ndim != 4:
                raise _shape_error(
                    source,
                    f"{prefix}.weight",
                    kernel.shape,
                    model.name,
                    layer,
                    "a 4-D convolution kernel",
                )
            kernel = kernel.transpose(2, 3, 1, 0)
            if first_conv:
                kernel = adapt_input_channels(kernel, layer.kernel.shape[-2], layer.name)
            arrays = [kernel]
            if layer.use_bias:
                arrays.append(_take(state, f"{prefix}.bias", source, model.name, layer.name, used))
            first_conv = False
        elif isinstance(layer, keras.layers.Dense):
            kernel = _take(state, f"{prefix}.weight", source, model.name, layer.name, used)
            kernel = _dense_from_conv(kernel) if kernel.ndim == 4 else kernel.T
            arrays = [kernel, _take(state, f"{prefix}.bias", source, model.name, layer.name, used)]
        else:
            raise ConfigError(
                f"{model.name}'s layer {layer.name!r} ({type(layer).__name__}) has "
                f"weights the timm port does not know how to set."
            )
        _set(layer, arrays, [k for k in _keys_of(layer, prefix)], source, model.name)
    unused = sorted(
        k for k in state if k not in used and not (not head and k.startswith(head_key + "."))
    )
    if unused:
        shown = ", ".join(f"{k} {list(state[k].shape)}" for k in unused[:4])
        raise ConfigError(
            f"{source} holds {len(unused)} tensor{'s' if len(unused) > 1 else ''} "
            f"{model.name} (timm {architecture.timm}) does not have: {shown}"
            f"{' ...' if len(unused) > 4 else ''}; a file for another "
            f"architecture?"
        )


def _dense_from_conv(kernel: np.ndarray) -> np.ndarray:
    """A convolution `[out, in, kh, kw]` that sees a whole kh x kw map (VGG's classifier as timm
    stores it) as the Dense kernel on that map flattened channels-last: row `(h * kw + w) * in + c`
    is the weight of pixel (h, w), channel c."""
    out, channels, height, width = kernel.shape
    return kernel.transpose(2, 3, 1, 0).reshape(height * width * channels, out)


def _keys_of(layer, prefix: str) -> list[str]:
    import keras

    if isinstance(layer, keras.layers.BatchNormalization):
        return [f"{prefix}.{n}" for n in ("weight", "bias", "running_mean", "running_var")]
    return [f"{prefix}.weight"] + ([f"{prefix}.bias"] if getattr(layer, "use_bias", False) else [])


def _take(state, key, source, model_name, layer_name, used) -> np.ndarray:
    if key not in state:
        raise ConfigError(
            f"{source} has no tensor {key!r}, which {model_name}'s layer "
            f"{layer_name!r} needs: a file for another architecture, or an "
            f"incomplete one?"
        )
    used.add(key)
    return state[key]


def _batchnorm(layer, prefix, state, source, model_name, used, epsilon) -> list[np.ndarray]:
    gamma, beta, mean, variance = (
        _take(state, f"{prefix}.{n}", source, model_name, layer.name, used)
        for n in ("weight", "bias", "running_mean", "running_var")
    )
    variance = np.maximum(variance + (epsilon - layer.epsilon), 0.0)
    return ([gamma] if layer.scale else []) + ([beta] if layer.center else []) + [mean, variance]


def _set(layer, arrays, keys, source, model_name) -> None:
    expected = [tuple(w.shape) for w in layer.weights]
    given = [tuple(a.shape) for a in arrays]
    if given != expected:
        for key, have, need in zip(keys, given, expected):
            if have != need:
                raise ConfigError(
                    f"{source}: tensor {key!r} has shape {list(have)} (converted "
                    f"from PyTorch's layout) but {model_name}'s layer "
                    f"{layer.name!r} needs {list(need)}: a file for another "
                    f"architecture or size?"
                )
        raise ConfigError(
            f"{source}: {model_name}'s layer {layer.name!r} needs weights of shapes "
            f"{expected}; the file gives {given}."
        )
    layer.set_weights([a.astype(layer.weights[i].dtype) for i, a in enumerate(arrays)])


def _shape_error(source, key, shape, model_name, layer, what) -> ConfigError:
    return ConfigError(
        f"{source}: tensor {key!r} has shape {list(shape)}, not {what} as "
        f"{model_name}'s layer {layer.name!r} needs."
    )
