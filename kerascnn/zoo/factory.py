"""`kerascnn.build(name, ...)`: a registered architecture as a Keras model, with the options users
need."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Literal

import keras

from kerascnn.backend.internals import recursion_headroom
from kerascnn.blocks import CONV_ARGS, SIDE_OUTPUTS
from kerascnn.blocks.core import conv_bn_act
from kerascnn.config import ConfigError, Source, check_call
from kerascnn.config.validation import parameters
from kerascnn.spec import assemble, validate_spec
from kerascnn.zoo.registry import get_model_info
from kerascnn.zoo.weights.cards import resolve_weights
from kerascnn.zoo.weights.timm import architecture_for, detect_layout, load_timm_weights, read_state_dict

TASK_ACTIVATIONS = {"multiclass": "softmax", "binary": "sigmoid", "multilabel": "sigmoid"}


def build(
    name: str,
    *,
    classes: int | None = None,
    input_shape: Sequence[int | None] | None = None,
    include_top: bool = True,
    pooling: Literal["avg", "max"] | None = None,
    task: Literal["multiclass", "binary", "multilabel"] = "multiclass",
    classifier_activation: str | None = "auto",
    features: bool = False,
    out_stages: Sequence[int | str] | None = None,
    weights: str | None = None,
    **options,
):
    """Build a registered architecture (see `kerascnn.list_models()`).

    Args:
        name: the registry name, e.g. "resnet50", "vgg16", "densenet_bc_100_12".
        classes: number of classes; default: the dataset the paper used (1000 for ImageNet models,
            10 for CIFAR and MNIST ones).
        input_shape: (height, width, channels); default: the paper's input. Any size the network's
            downsampling allows (32x32 CIFAR images, 1-channel grayscale, 4-channel RGB-D ...).
        include_top: False gives the backbone (no head), ending at the last stage's feature map.
        pooling: with `include_top=False`: "avg" or "max" global pooling of that feature map.
        task: "multiclass" (softmax), "binary" (one sigmoid unit; `classes` must be 1 or left out) or
            "multilabel" (one sigmoid per class). Decides the default `classifier_activation`.
        classifier_activation: the output activation; "auto" follows `task`; None gives logits.
        features: a model whose outputs are the last feature map of each stage, a dict keyed by stage
            name (like timm's `features_only` and keras-hub's pyramid outputs).
        out_stages: with `features=True`, which stages: indices (0 = the stem, 1 = the first stage)
            or stage names. Default: every stage after the stem.
        weights: None (random), "imagenet" (timm's best ImageNet-1k weights for the network:
            `kerascnn.zoo.weights.cards.PRETRAINED`), a Hub id of timm weights
            ("timm/resnet50.a1_in1k", "hf://timm/..."), or the path of a timm `model.safetensors`
            file. The model is built in the arrangement the weights were trained in (timm's
            ResNets stride on the 3x3) and computes what timm computes; another number of
            `classes` gets a fresh classifier, a backbone (`include_top=False`, `features=True`)
            keeps every other weight, a 1- or 4-channel input adapts the first convolution. See
            `kerascnn.zoo.weights.timm`.
        **options: the family's options (see its spec function: `depths`, `stride_on`, `attention`,
            `width_factor`, `groups`, `growth_rate`, `aux`, `dropout`, ...) and network-wide
            convolution settings (`norm`, `activation`, `use_bias`, `kernel_initializer`,
            `bn_momentum`, `bn_epsilon`). A variant's defining options (resnet50's `depths`) are fixed.

    Returns:
        A `keras.Model` named `name`. With side outputs (GoogLeNet's `aux=True`), its outputs are the
        main prediction followed by each auxiliary one.

    Raises:
        ConfigError: unknown name or option (with close matches), a bad value, an input too small
            for the network (naming the stage where the feature map vanishes).
    """
    info = get_model_info(name)
    source = architecture = state = None
    if weights is not None:  # read before anything is built: the file decides the arrangement
        source = resolve_weights(name, weights)
        state = read_state_dict(source.path)
        architecture = architecture_for(name, detect_layout(state), source=source.described)
        options = _arrangement(name, architecture, options, source.described)
    spec = make_spec(name, options)
    spec["input_shape"] = list(input_shape) if input_shape is not None else list(info.input_shape)
    classes = check_task(task, classes)
    if classifier_activation == "auto":
        classifier_activation = TASK_ACTIVATIONS[task]
    if features and include_top:
        include_top = False  # feature extraction never has a classifier
    if pooling is not None and (include_top or features):
        raise ConfigError(
            "`pooling` applies to a backbone: pass include_top=False (and no "
            f"features=True). Received: pooling={pooling!r}."
        )
    if pooling not in (None, "avg", "max"):
        raise ConfigError(f"`pooling` must be 'avg', 'max' or None. Received: pooling={pooling!r}.")
    if out_stages is not None and not features:
        raise ConfigError("`out_stages` selects feature outputs: pass features=True too.")

    if include_top:
        spec["head"] = {
            **spec.get("head", {}),
            "classes": classes or info.classes,
            "classifier_activation": classifier_activation,
        }
    else:
        spec.pop("head", None)
        _drop_side_outputs_from_spec(spec)

    plan = validate_spec(spec)
    if features:  # checked before anything is built
        chosen = _select_stages(name, [stage for stage, _ in plan.stages], out_stages)
    graph = assemble(plan)
    if features:
        outputs = {stage: _stage_feature(graph, stage) for stage in chosen}
    else:
        x = graph.output
        if not include_top and pooling:
            pool = (
                keras.layers.GlobalAveragePooling2D
                if pooling == "avg"
                else keras.layers.GlobalMaxPooling2D
            )
            x = pool(name="pool")(x)
        outputs = [x, *graph.side_outputs] if include_top and graph.side_outputs else x
    with recursion_headroom():
        model = keras.Model(graph.inputs, outputs, name=name)
    if architecture is not None:
        head = include_top and task == "multiclass" and (classes in (None, 1000))
        load_timm_weights(model, state, architecture, source=source.described, head=head)
    return model


def _arrangement(name: str, architecture, options: dict, described: str) -> dict:
    """`options` with the arrangement the weights were trained in; a conflicting option is an
    error (the weights would compute something else)."""
    for key, value in architecture.options.items():
        if key in options and options[key] != value:
            raise ConfigError(
                f"{described} was trained as {name} with {key}={value!r}; it cannot "
                f"be built with {key}={options[key]!r}.",
                hint=f"leave {key} out: weights= sets it.",
            )
    return {**options, **architecture.options}


def check_task(task: str, classes: int | None) -> int | None:
    """`classes` for `task`: "binary" has one sigmoid unit (`classes` 1 or left out); the others
    keep what was given."""
    if task not in TASK_ACTIVATIONS:
        raise ConfigError(
            f"`task` must be one of {', '.join(map(repr, TASK_ACTIVATIONS))}. Received: task={task!r}."
        )
    if task == "binary":
        if classes not in (None, 1):
            raise ConfigError(
                f"task='binary' has one sigmoid output, so `classes` must be 1 or "
                f"left out. Received: classes={classes!r}; for several independent "
                f"labels use task='multilabel'."
            )
        return 1
    return classes


def make_spec(name: str, options: dict | None = None) -> dict:
    """The spec dict of a registered model with `options` applied (no input shape yet)."""
    info = get_model_info(name)
    options = dict(options or {})
    fixed = sorted(set(options) & set(info.variant))
    if fixed:
        raise ConfigError(
            f"{', '.join(repr(k) for k in fixed)} defines {name!r} and cannot be "
            f"changed. Received: {fixed[0]}={options[fixed[0]]!r}.",
            hint=f"{info.builder.__module__}.{info.builder.__name__}(...) gives the "
            f"family's spec with any arguments, for kerascnn.build_from_spec.",
        )
    conv = {k: p for k, p in parameters(conv_bn_act).items() if k in CONV_ARGS}
    checked = check_call(
        info.builder,
        options,
        path=(),
        source=Source(),
        extra=conv,
        given=list(info.variant),
        what=f"model {name!r}",
    )
    family_options = {k: v for k, v in checked.items() if k not in conv}
    conv_options = {k: v for k, v in checked.items() if k in conv}
    try:
        spec = copy.deepcopy(info.builder(**info.variant, **family_options))
    except ValueError as e:
        raise ConfigError(f"model {name!r}: {e}") from None
    spec["name"] = name
    spec["defaults"] = {**spec.get("defaults", {}), **conv_options}
    return spec


def drop_side_outputs(model):
    """The same model (sharing its weights) with only its main output: GoogLeNet for inference."""
    if len(model.outputs) == 1:
        return model
    return keras.Model(model.inputs, model.outputs[0], name=model.name)


def _drop_side_outputs_from_spec(spec: dict) -> None:
    for stage in spec.get("stages", []):
        if "blocks" in stage:
            stage["blocks"] = [
                item
                for item in stage["blocks"]
                if not (isinstance(item, dict) and item.get("block") in SIDE_OUTPUTS)
            ]


def _select_stages(name: str, stages: list[str], out_stages) -> list[str]:
    """Stage names for `out_stages` (indices: 0 = stem; or names). Validated against the model."""
    ordered = [s for s in stages if s != "post"]
    has_stem = ordered and ordered[0] == "stem"
    indexable = ordered if has_stem else [None, *ordered]  # index 0 is always the stem
    if out_stages is None:
        return [s for s in ordered if s != "stem"]
    if isinstance(out_stages, (str, int)):
        out_stages = [out_stages]
    valid = ", ".join(f"{i} ({s})" for i, s in enumerate(indexable) if s is not None)
    chosen = []
    for item in out_stages:
        if isinstance(item, bool) or not isinstance(item, (int, str)):
            raise ConfigError(f"`out_stages` lists stage indices or names. Received: {item!r}.")
        if isinstance(item, int):
            if not 0 <= item < len(indexable) or indexable[item] is None:
                raise ConfigError(
                    f"out_stages={tuple(out_stages)!r}: stage {item} is out of range; "
                    f"{name} has stages {valid}."
                )
            item = indexable[item]
        elif item not in ordered:
            raise ConfigError(
                f"out_stages={tuple(out_stages)!r}: {name} has no stage {item!r}; it has stages {valid}."
            )
        if item not in chosen:
            chosen.append(item)
    return chosen


def _stage_feature(graph, stage):
    """A stage's output; the last stage's includes the final BN-ReLU of pre-activation networks."""
    names = [s for s in graph.stage_outputs if s != "post"]
    if stage == names[-1] and "post" in graph.stage_outputs:
        return graph.stage_outputs["post"]
    return graph.stage_outputs[stage]
