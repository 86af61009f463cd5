"""Weights from keras.applications, carried into the equivalent kerascnn model.

`port_weights(source)` takes a keras.applications model (say `keras.applications.ResNet50(weights=
"imagenet")`) or its weights file and returns the kerascnn model with the same function: the same
predictions to float rounding, with kerascnn's layer names, so fine-tuning by stage prefix just works.

| keras.applications                  | kerascnn                                           | how                   |
|-------------------------------------|----------------------------------------------------|-----------------------|
| VGG16, VGG19                        | vgg16, vgg19                                       | layer for layer       |
| ResNet50, ResNet101, ResNet152      | resnet50, resnet101, resnet152                     | conv biases folded    |
| ResNet50V2, ResNet101V2, ResNet152V2| preact_resnet50/101/152 with `downsample="last"`   | conv biases folded    |
| DenseNet121, DenseNet169, DenseNet201| densenet121, densenet169, densenet201             | layer for layer       |
| InceptionResNetV2                   | inception_resnet_v2                                | gamma = 1 added       |

The two models' weighted layers correspond one to one, in order, and every shape is checked. Where the
Keras model has a convolution bias that kerascnn leaves out (a BN follows, so the bias is redundant),
the bias is folded exactly: into the following BN's moving mean (ResNet v1), or, for ResNetV2's biased
last 1x1 convolutions and projections, into the moving mean of every BN that reads the residual stream
downstream of it. Different BN epsilons are absorbed into the moving variance, BN layers without a
scale get gamma = 1.

A different number of input channels adapts the first convolution's kernel as timm's `in_chans` does:
one channel sums the RGB filters; more than three repeat them and scale by 3 / channels. A different
number of classes leaves the classifier freshly initialised (for fine-tuning), as timm does.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kerascnn.config import ConfigError, first_line
from kerascnn.config.errors import did_you_mean
from kerascnn.zoo.registry import get_model_info
from kerascnn.zoo.weights.channels import adapt_input_channels


@dataclass(frozen=True)
class PortSource:
    """How one keras.applications architecture maps onto the zoo."""

    application: str  # the keras.applications constructor
    model: str  # the kerascnn registry name
    options: dict = field(default_factory=dict)
    fold: str = "none"  # how convolution biases kerascnn lacks are folded: none, next_bn, stream
    # The input the weights expect, as a recipe's `normalize` (keras.applications' preprocess_input
    # modes: caffe = BGR with the ImageNet mean subtracted, tf = [-1, 1], torch = "imagenet").
    preprocessing: str = "caffe"


def _sources() -> dict[str, PortSource]:
    table = {
        "vgg16": PortSource("VGG16", "vgg16"),
        "vgg19": PortSource("VGG19", "vgg19"),
        "inception_resnet_v2": PortSource(
            "InceptionResNetV2", "inception_resnet_v2", preprocessing="tf"
        ),
    }
    for depth in (50, 101, 152):
        table[f"resnet{depth}"] = PortSource(f"ResNet{depth}", f"resnet{depth}", fold="next_bn")
        table[f"resnet{depth}v2"] = PortSource(
            f"ResNet{depth}V2",
            f"preact_resnet{depth}",
            {"downsample": "last"},
            fold="stream",
            preprocessing="tf",
        )
    for depth in (121, 169, 201):
        table[f"densenet{depth}"] = PortSource(
            f"DenseNet{depth}", f"densenet{depth}", preprocessing="imagenet"
        )
    return table


SOURCES: dict[str, PortSource] = _sources()  # keyed by the keras.applications model's `name`


def portable() -> list[str]:
    """The keras.applications constructors `port_weights` accepts."""
    return [s.application for s in SOURCES.values()]


def port_weights(
    source,
    *,
    architecture: str | None = None,
    input_shape=None,
    include_top: bool | None = None,
    classes: int | None = None,
    pooling: str | None = None,
    classifier_activation: str | None = "auto",
):
    """The kerascnn model equivalent to a keras.applications model, carrying its weights.

    Args:
        source: a keras.applications model (`keras.applications.ResNet50(weights="imagenet")`), or
            the path of its weights file (`.weights.h5`, or the legacy `.h5` that keras.applications
            downloads), in which case `architecture` says which model it holds.
        architecture: the keras.applications constructor ("ResNet50", "DenseNet121", ...; any case);
            needed for a file, optional for a model (its name tells).
        input_shape: the kerascnn model's input; default: the source's (the registry's default where
            the source's is open). A different channel count adapts the first convolution.
        include_top: default: as the source.
        classes: default: as the source; a different count leaves the classifier freshly initialised.
        pooling: for a backbone (`include_top=False`): "avg" or "max".
        classifier_activation: as in `kerascnn.build`; "auto" keeps the source's.

    Returns:
        A `keras.Model` built by `kerascnn.build(...)` with the source's weights.

    Raises:
        ConfigError: an architecture that cannot be ported (naming those that can), a file that is
            missing or does not hold that architecture's weights, shapes that do not correspond.
    """
    model = _source_model(source, architecture, include_top, input_shape)
    spec = find_source(architecture or model.name, given=architecture is not None)
    top = _has_top(model)
    include_top = top if include_top is None else include_top
    if include_top and not top:
        raise ConfigError(
            f"the source model {model.name!r} has no classifier (it was built with "
            f"include_top=False), so it cannot give include_top=True."
        )
    src_shape = tuple(model.input_shape[1:])
    if input_shape is None:
        default = get_model_info(spec.model).input_shape
        input_shape = tuple(d if d is not None else default[i] for i, d in enumerate(src_shape))
    src_classes = model.output_shape[-1] if top else None
    if classes is None:
        classes = src_classes
    if classifier_activation == "auto":
        classifier_activation = _source_activation(model) if top else "softmax"

    from kerascnn.zoo.factory import build  # keeps kerascnn.zoo.weights free of Keras

    kwargs = dict(input_shape=input_shape, include_top=include_top, pooling=pooling)
    if include_top:
        kwargs.update(classes=classes, classifier_activation=classifier_activation)
    target = build(spec.model, **kwargs, **spec.options)
    pairs = _pair_layers(model, target, skip_classifier=include_top and classes != src_classes)
    _transfer(pairs, spec.fold, _bn_after(model))
    return target


def imagenet_source(application: str, *, include_top: bool, input_shape=None):
    """keras.applications' `application` with its ImageNet weights, downloaded by Keras (into its
    cache): the one place kerascnn asks keras.applications for weights. Fails with a `ConfigError`
    (the caller says how to go on without internet)."""
    import keras

    options = {"weights": "imagenet", "include_top": include_top}
    if input_shape is not None:
        options["input_shape"] = (*tuple(input_shape)[:2], 3)
    try:
        return getattr(keras.applications, application)(**options)
    except Exception as e:  # noqa: BLE001  (a failed download has many exception types; Keras
        # raises a bare Exception offline)
        raise ConfigError(
            f"could not fetch the ImageNet weights of {application}: {first_line(e)}"
        ) from None


# --- the source ------------------------------------------------------------------------------------


def find_source(name: str, *, given: bool = True) -> PortSource:
    """The `PortSource` for a keras.applications name ("ResNet50", "resnet50", "resnet50v2" ...)."""
    key = name.lower().replace("_", "").replace("-", "")
    for source_name, source in SOURCES.items():
        if key in (source_name.replace("_", ""), source.application.lower()):
            return source
    what = "architecture" if given else "the source model's name"
    raise ConfigError(
        f"{what} {name!r} is not one port_weights knows. Received: {name!r}.",
        hint=did_you_mean(name, portable()) or f"portable: {', '.join(portable())}.",
    )


def _source_model(source, architecture, include_top, input_shape):
    import keras

    if isinstance(source, keras.Model):
        return source
    if not isinstance(source, (str, Path)):
        raise ConfigError(
            f"`source` must be a keras.applications model or the path of its weights "
            f"file. Received: {type(source).__name__}."
        )
    path = Path(source)
    if architecture is None:
        raise ConfigError(
            f"a weights file does not say which network it holds: pass "
            f"architecture= (one of {', '.join(portable())}). Received: {str(path)!r}."
        )
    spec = find_source(architecture, given=True)
    if not path.is_file():
        raise ConfigError(f"no weights file at {str(path)!r}.")
    top, classes = _file_top(path)
    if include_top is not None and include_top and not top:
        raise ConfigError(f"{str(path)!r} holds no classifier weights; pass include_top=False.")
    constructor = getattr(keras.applications, spec.application)
    kwargs = {"weights": None, "include_top": top}
    if input_shape is not None:  # the size the weights were saved at (a flattening head needs it)
        kwargs["input_shape"] = (*tuple(input_shape)[:2], 3)
    if top:
        kwargs["classes"] = classes
    model = constructor(**kwargs)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.load_weights(path)
    except (ValueError, KeyError, OSError) as e:
        raise ConfigError(
            f"{str(path)!r} does not hold {spec.application} weights "
            f"(include_top={top}): {first_line(e)}"
        ) from None
    skipped = [str(w.message) for w in caught if "Skipping" in str(w.message)]
    if skipped:  # Keras loads what matches and warns about the rest: not a faithful port
        raise ConfigError(
            f"{str(path)!r} does not hold all of {spec.application}'s weights "
            f"(include_top={top}): {skipped[0].splitlines()[0]}"
        )
    return model


def _file_top(path: Path) -> tuple[bool, int | None]:
    """Whether a Keras weights file holds a classifier, and its number of classes.

    The legacy `.h5` files keras.applications downloads name the classifier `predictions`; a Keras 3
    `.weights.h5` names layers by class (`layers/dense_2/vars/0`), and these networks' last Dense
    layer is their classifier.
    """
    import h5py

    named: list[int] = []
    dense: dict[int, int] = {}

    def visit(name, item):
        if not isinstance(item, h5py.Dataset) or len(item.shape) != 2:
            return
        if "predictions" in name:
            named.append(int(item.shape[1]))
        match = re.match(r"^layers/dense(?:_(\d+))?/vars/0$", name)
        if match:
            dense[int(match.group(1) or 0)] = int(item.shape[1])

    try:
        with h5py.File(path, "r") as f:
            f.visititems(visit)
    except OSError as e:
        raise ConfigError(f"{str(path)!r} is not a Keras weights (HDF5) file: {e}") from None
    if named:
        return True, named[0]
    if dense:
        return True, dense[max(dense)]
    return False, None


def _has_top(model) -> bool:
    return any(layer.name == "predictions" for layer in model.layers)


def _source_activation(model) -> str | None:
    activation = getattr(model.get_layer("predictions"), "activation", None)
    name = getattr(activation, "__name__", None)
    return None if name in (None, "linear") else name


# --- pairing and transfer --------------------------------------------------------------------------


def _weighted(model):
    return [layer for layer in model.layers if layer.weights]


def _pair_layers(source, target, *, skip_classifier: bool):
    src, dst = _weighted(source), _weighted(target)
    if skip_classifier:  # a new classifier: leave the target's freshly initialised
        src, dst = src[:-1], dst[:-1]
    if len(src) < len(dst) or (len(src) > len(dst) and not _only_head_left(src[len(dst) :])):
        raise ConfigError(
            f"{source.name} has {len(src)} layers with weights and the kerascnn "
            f"{target.name} {len(dst)}; they do not correspond."
        )
    pairs = list(zip(src, dst))
    for s, d in pairs:
        if _kind(s) != _kind(d):
            raise ConfigError(
                f"layer {s.name!r} ({type(s).__name__}) of {source.name} meets "
                f"{d.name!r} ({type(d).__name__}) of the kerascnn model; the "
                f"architectures do not correspond."
            )
    return pairs


def _only_head_left(layers) -> bool:
    return all(_kind(layer) == "dense" for layer in layers)


def _kind(layer) -> str:
    import keras

    if isinstance(layer, keras.layers.BatchNormalization):
        return "bn"
    if isinstance(layer, keras.layers.Dense):
        return "dense"
    if isinstance(layer, keras.layers.Conv2D):
        return "conv"
    return type(layer).__name__


def _bn_after(model) -> dict[int, object]:
    """id(tensor) -> the BN layer that reads it (to fold a convolution's bias into its own BN)."""
    import keras

    return {
        id(layer.input): layer
        for layer in model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    }


def _transfer(pairs, fold: str, bn_after: dict) -> None:
    folded = {}  # fold="next_bn": BN name -> the bias of the convolution it normalizes
    stream = None  # fold="stream": what the residual stream lacks (ResNetV2's folded biases)
    shortcut = None
    first = True
    for src, dst in pairs:
        kind = _kind(src)
        if kind == "bn":
            shift = None
            if fold == "next_bn":
                shift = folded.pop(src.name, None)
            elif fold == "stream" and (src.name.endswith("preact_bn") or src.name == "post_bn"):
                shift = stream
            _set_bn(src, dst, shift)
            continue
        kernel, bias = _kernel_bias(src)
        target_kernel = dst.kernel
        if first and kind == "conv":
            kernel = adapt_input_channels(kernel, target_kernel.shape[-2], dst.name)
        first = False
        if tuple(kernel.shape) != tuple(target_kernel.shape):
            raise ConfigError(
                f"layer {src.name!r} has a {tuple(kernel.shape)} kernel but the "
                f"kerascnn {dst.name!r} needs {tuple(target_kernel.shape)} (a "
                f"different input size changes a flattening classifier: "
                f"pass include_top=False, or the source's input size)."
            )
        if dst.use_bias:
            dst.set_weights([kernel, bias if bias is not None else np.zeros(kernel.shape[-1])])
            continue
        dst.set_weights([kernel])
        if bias is None:
            continue
        if fold == "next_bn" and id(src.output) in bn_after:
            folded[bn_after[id(src.output)].name] = bias
        elif fold == "stream" and src.name.endswith("_0_conv"):
            shortcut = bias  # the projection replaces the stream in this block
        elif fold == "stream" and src.name.endswith("_3_conv"):
            base = shortcut if shortcut is not None else stream
            stream = bias if base is None else base + bias
            shortcut = None
        else:
            raise ConfigError(
                f"layer {src.name!r} has a bias that the kerascnn {dst.name!r} "
                f"lacks and no BN to fold it into."
            )


def _kernel_bias(layer):
    kernel = np.asarray(layer.kernel)
    bias = np.asarray(layer.bias) if getattr(layer, "use_bias", False) else None
    return kernel, bias


def _set_bn(src, dst, shift) -> None:
    channels = src.moving_mean.shape[-1]
    gamma = np.asarray(src.gamma) if src.scale else np.ones(channels, "float32")
    beta = np.asarray(src.beta) if src.center else np.zeros(channels, "float32")
    mean = np.asarray(src.moving_mean)
    variance = np.asarray(src.moving_variance) + (src.epsilon - dst.epsilon)
    if shift is not None:
        mean = mean - shift  # the kerascnn input lacks the folded bias
    if dst.moving_mean.shape[-1] != channels:
        raise ConfigError(
            f"BN {src.name!r} has {channels} channels but the kerascnn {dst.name!r} "
            f"{dst.moving_mean.shape[-1]}."
        )
    weights = ([gamma] if dst.scale else []) + ([beta] if dst.center else [])
    dst.set_weights([*weights, mean, np.maximum(variance, 0.0)])
