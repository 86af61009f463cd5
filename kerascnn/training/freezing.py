"""Fine-tuning by layer freezing: freeze the bottom of a network, replace its classifier, unfreeze
more of the top as data allows (the lecture's transfer-learning recipe; Yosinski et al., "How
transferable are features in deep neural networks?", NIPS 2014).

Layers are chosen by what their names say. kerascnn names every layer from its stage (`stem_conv`,
`stage3_block2_conv1`, `head_logits`), keras.applications from its block (`conv4_block2_1_conv`), so
`up_to="stage3"` or `up_to="conv4"` freezes everything up to the end of that stage. A layer's stage is
`kerascnn.spec.stage_of(name)`, the text before the first underscore: the one rule that `freeze`,
`unfreeze`, `trainable_report`, `trainable_stages` and the fine-tuning phases share (specs refuse stage
names that would break it).

BatchNormalization: a frozen BN layer runs in inference mode (Keras 3: `trainable=False` means its
moving mean and variance are used and never updated), so frozen parts compute exactly what they
computed when pretrained. `unfreeze` leaves BN layers frozen unless `batchnorm=True`: with the small
batches and datasets of fine-tuning, re-estimating the statistics destroys what the pretrained layers
learned (the Keras transfer-learning guide's advice).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import keras

from kerascnn.blocks import classifier_head
from kerascnn.config.errors import did_you_mean
from kerascnn.spec import stage_of

__all__ = [
    "freeze",
    "unfreeze",
    "replace_head",
    "set_trainable",
    "trainable_report",
    "format_report",
    "trainable_stages",
    "StageRow",
]

_BATCHNORM = (keras.layers.BatchNormalization,)


def _weighted_layers(model) -> list:
    return [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


def _matches(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + "_")


def _cut(model, up_to) -> int:
    """How many of `model.layers` (in order) `up_to` covers."""
    layers = model.layers
    if isinstance(up_to, bool) or up_to is None:
        raise ValueError(
            f"`up_to` must be a stage or layer-name prefix, a layer index or a "
            f"fraction. Received: up_to={up_to!r}"
        )
    if isinstance(up_to, float):
        if not 0.0 <= up_to <= 1.0:
            raise ValueError(f"A fraction `up_to` must be between 0 and 1. Received: {up_to!r}")
        return round(up_to * len(layers))
    if isinstance(up_to, int):
        if not -len(layers) <= up_to <= len(layers):
            raise ValueError(f"`up_to`={up_to} is out of range: the model has {len(layers)} layers.")
        return up_to % (len(layers) + 1) if up_to >= 0 else len(layers) + up_to
    if isinstance(up_to, str):
        hits = [i for i, layer in enumerate(layers) if _matches(layer.name, up_to)]
        if not hits:
            stages = _stage_names(model)
            hint = did_you_mean(up_to, stages) or f"its stages are {', '.join(stages)}."
            raise ValueError(
                f"No layer of model '{model.name}' is named {up_to!r} or starts with "
                f"'{up_to}_'. Hint: {hint}"
            )
        return hits[-1] + 1
    raise ValueError(f"`up_to` must be a str, int or float. Received: {up_to!r}")


def _stage_names(model) -> list[str]:
    names = []
    for layer in _weighted_layers(model):
        stage = stage_of(layer.name)
        if stage not in names:
            names.append(stage)
    return names


def freeze(model, up_to: str | int | float = 1.0) -> keras.Model:
    """Freeze the layers from the input up to and including `up_to`; the rest stays as it was.

    Args:
        up_to: a stage name or layer-name prefix ("stage3", "conv4_block6"): up to the last layer so
            named; a layer index n: the first n layers (`model.layers[:n]`); a fraction of the depth
            (0.75: the first three quarters of the layers). Default: everything.

    Returns:
        The model, for chaining. Recompile it before training (Keras reads `trainable` at compile).
    """
    for layer in model.layers[: _cut(model, up_to)]:
        layer.trainable = False
    return model


def unfreeze(
    model, which: str | Sequence[str] | int | float = 1.0, *, batchnorm: bool = False
) -> keras.Model:
    """Make layers trainable again, from the top down.

    Args:
        which: like `freeze`'s `up_to`, but naming where unfreezing starts: "stage4" unfreezes
            stage4 and everything after it; a list of prefixes unfreezes just those layers; an
            index n unfreezes `model.layers[n:]`; a fraction f the top f of the layers.
        batchnorm: also let BatchNormalization layers train (and update their statistics). Off by
            default: see the module docstring.
    """
    layers = model.layers
    if isinstance(which, (list, tuple)):
        chosen = [layer for layer in layers if any(_matches(layer.name, p) for p in which)]
        missing = [p for p in which if not any(_matches(layer.name, p) for layer in layers)]
        if missing:
            raise ValueError(f"No layer of model '{model.name}' is named by {missing}.")
    elif isinstance(which, str):
        _cut(model, which)  # an unknown name fails here, with the model's stages as a hint
        first = next(i for i, layer in enumerate(layers) if _matches(layer.name, which))
        chosen = layers[first:]
    elif isinstance(which, float) and not isinstance(which, bool):
        chosen = layers[len(layers) - _cut(model, which) :]
    else:
        chosen = layers[_cut(model, which) :]
    for layer in chosen:
        if isinstance(layer, _BATCHNORM) and not batchnorm:
            continue
        layer.trainable = True
    return model


def replace_head(
    model,
    classes: int,
    *,
    dropout: float = 0.0,
    keep_hidden: bool = True,
    classifier_activation: str | None = "softmax",
    name: str = "head",
) -> keras.Model:
    """A new model: the network's features with a new, freshly initialised classifier.

    The features are the input of the last Dense (or 1x1-convolution) classifier: with
    `keep_hidden`, VGG's and AlexNet's pretrained FC-4096 layers are kept and only the last layer is
    new; otherwise the new head starts from the pooled (or flattened) features. A backbone without
    a classifier (`include_top=False`) gets the new head on its output, average-pooled first when it
    is a feature map. The layers shared with `model` keep their weights and their `trainable` flags.

    New layers: `{name}_new_drop` (when `dropout`), `{name}_new_logits`, `{name}_new_pred`.
    """
    if not isinstance(classes, int) or classes < 1:
        raise ValueError(f"`classes` must be a positive integer. Received: classes={classes!r}")
    classifiers = [
        layer
        for layer in model.layers
        if isinstance(layer, keras.layers.Dense)
        or (isinstance(layer, keras.layers.Conv2D) and layer.name.endswith("_logits"))
    ]
    if not classifiers:
        features = model.outputs[0]
        if len(model.outputs) != 1 or len(features.shape) not in (2, 4):
            raise ValueError(
                f"Model '{model.name}' has no Dense classifier to replace, and its "
                f"output is not features to put one on. Received outputs of shape "
                f"{[tuple(o.shape) for o in model.outputs]}."
            )
    elif keep_hidden:
        features = classifiers[-1].input
    else:
        pooled = [
            layer
            for layer in model.layers
            if isinstance(
                layer,
                (
                    keras.layers.GlobalAveragePooling2D,
                    keras.layers.GlobalMaxPooling2D,
                    keras.layers.Flatten,
                ),
            )
        ]
        if not pooled:
            raise ValueError(
                f"Model '{model.name}' has no pooling or flatten layer before its "
                f"classifier; use keep_hidden=True."
            )
        features = pooled[-1].output
    if len(features.shape) == 4:  # NiN's convolutional classifier: pool its input first
        x = keras.layers.GlobalAveragePooling2D(name=f"{name}_new_pool")(features)
    else:
        x = features
    outputs = classifier_head(
        x,
        classes=classes,
        pool=None,
        dropout=dropout,
        classifier_activation=classifier_activation,
        name=f"{name}_new",
    )
    return keras.Model(model.inputs, outputs, name=model.name)


@dataclass(frozen=True)
class StageRow:
    stage: str
    layers: int
    trainable: int  # parameters updated by training
    frozen: int  # parameters of frozen layers
    statistics: int  # BN moving means and variances of trainable BN layers (never trained)


def trainable_report(model) -> list[StageRow]:
    """Per stage (`stage_of` each layer's name): layers, trainable and frozen parameters."""
    rows: dict[str, list[int]] = {}
    for layer in _weighted_layers(model):
        stage = stage_of(layer.name)
        row = rows.setdefault(stage, [0, 0, 0, 0])
        row[0] += 1
        trainable = sum(_size(w) for w in layer.trainable_weights)
        rest = sum(_size(w) for w in layer.non_trainable_weights)
        row[1] += trainable
        if layer.trainable:
            row[3] += rest
        else:
            row[2] += rest
    return [StageRow(stage, *values) for stage, values in rows.items()]


def _size(weight) -> int:
    return int(math.prod(weight.shape))


def format_report(rows: list[StageRow]) -> str:
    """The report as aligned text, with totals."""
    lines = [f"{'stage':<12}{'layers':>7}{'trainable':>13}{'frozen':>13}{'BN statistics':>15}"]
    for r in rows:
        lines.append(f"{r.stage:<12}{r.layers:>7}{r.trainable:>13,}{r.frozen:>13,}{r.statistics:>15,}")
    lines.append(
        f"{'total':<12}{sum(r.layers for r in rows):>7}"
        f"{sum(r.trainable for r in rows):>13,}{sum(r.frozen for r in rows):>13,}"
        f"{sum(r.statistics for r in rows):>15,}"
    )
    return "\n".join(lines)


def trainable_stages(model, *, exclude: str | None = None) -> list[str]:
    """The stages (`stage_of` the layer names) that hold weights, in order; `exclude` leaves
    out the layers it prefixes (a new head)."""
    names = []
    for layer in _weighted_layers(model):
        if layer.weights and not (exclude and _matches(layer.name, exclude)):
            stage = stage_of(layer.name)
            if stage not in names:
                names.append(stage)
    return names


def set_trainable(
    model,
    unfreeze_what: str | Sequence[str] | int | float = "none",
    *,
    head: str,
    batchnorm: bool = False,
) -> keras.Model:
    """Exactly this trains: the layers prefixed by `head`, and what `unfreeze_what` names; the rest
    is frozen (a fine-tuning phase, whatever trained before it).

    Args:
        unfreeze_what: "none", "all", a stage or layer-name prefix (it and everything after), a list
            of prefixes (just those), an integer K (the top K stages with weights, the head's
            layers not counted) or a fraction (the top fraction of the layers).
        head: the prefix of the classifier's layers, which always train ("head_new").
        batchnorm: as in `unfreeze`.
    """
    freeze(model, 1.0)
    unfreeze(model, [head], batchnorm=True)
    which = unfreeze_what
    if which == "none" or which == 0:
        return model
    if which == "all":
        which = 0
    elif isinstance(which, int) and not isinstance(which, bool):
        stages = trainable_stages(model, exclude=head)
        if which > len(stages):
            raise ValueError(
                f"unfreeze = {which} top stages, but model '{model.name}' has "
                f"{len(stages)} with weights below the classifier: "
                f"{', '.join(stages)}."
            )
        which = stages[-which]
    return unfreeze(model, which, batchnorm=batchnorm)
