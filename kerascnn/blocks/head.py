"""The one classifier head: pooling or flattening, optional hidden FC layers, the classifier, its
output."""

from __future__ import annotations

from typing import Literal

import keras

from kerascnn.blocks.core import activation_layer, check_activation, check_positive_int, dropout_layer


def classifier_head(
    x,
    *,
    classes: int,
    pool: Literal["avg", "max", "flatten"] | None = "avg",
    hidden: tuple[int, ...] = (),
    dropout: float = 0.0,
    classifier_activation: str | None = "softmax",
    hidden_activation: str = "relu",
    classifier: Literal["dense", "conv"] = "dense",
    name: str,
):
    """Turn a feature map into class scores, in every form the classic papers use.

    - AlexNet/VGG: `pool="flatten", hidden=(4096, 4096), dropout=0.5`: flatten -> FC-4096 -> dropout ->
      FC-4096 -> dropout -> FC-classes.
    - GoogLeNet: `pool="avg", dropout=0.4`: global average pool -> dropout -> FC-classes.
    - ResNet/DenseNet: `pool="avg"`: global average pool -> FC-classes.
    - NiN: `classifier="conv", pool="avg"`: a 1x1 convolution to `classes` maps, then global average
      pooling gives the scores directly (no FC layer at all).

    Dropout follows every hidden layer; a head without hidden layers drops its pooled features instead,
    so dropout always comes right before the classifier.

    The final activation is its own layer, `{name}_pred`, computed in float32 so that mixed-precision
    training stays numerically safe (the Keras mixed-precision guide's advice).

    Layers: `{name}_pool` or `{name}_flatten`, `{name}_fc1`, `{name}_drop1`, ... (or `{name}_drop`),
    `{name}_logits`, `{name}_pred`.

    Args:
        x: a feature map (batch, H, W, C), or an already pooled (batch, C) tensor with `pool=None`.
        classes: number of outputs (1 with activation "sigmoid" for binary classification; one sigmoid
            per class for multi-label).
        pool: "avg" or "max" (global pooling), "flatten", or None for a 2-D input.
        hidden: widths of hidden fully connected layers.
        dropout: dropout rate before the classifier and after each hidden layer.
        classifier_activation: the output activation ("softmax", "sigmoid"); None or "linear" for
            logits (the name keras.applications uses).
        hidden_activation: activation of the hidden layers.
        classifier: "dense" (a fully connected classifier) or "conv" (NiN's 1x1 convolution before
            global pooling).
        name: prefix of every layer name.
    """
    check_positive_int(classes, "classes", name)
    if pool not in ("avg", "max", "flatten", None):
        raise ValueError(
            f"Layer '{name}': `pool` must be 'avg', 'max', 'flatten' or None. Received: pool={pool!r}"
        )
    if classifier not in ("dense", "conv"):
        raise ValueError(
            f"Layer '{name}': `classifier` must be 'dense' or 'conv'. "
            f"Received: classifier={classifier!r}"
        )
    for units in hidden:
        check_positive_int(units, "hidden", name)
    check_activation(classifier_activation, name)
    check_activation(hidden_activation, name)
    if classifier == "conv":
        if hidden or pool not in ("avg", "max") or len(x.shape) != 4:
            raise ValueError(
                f"Layer '{name}': classifier='conv' (NiN) needs a feature map, "
                f"pool 'avg' or 'max' and no hidden layers. Received: pool={pool!r}, "
                f"hidden={tuple(hidden)!r}, input shape {tuple(x.shape)}."
            )
        x = dropout_layer(x, dropout, name=f"{name}_drop")
        x = keras.layers.Conv2D(classes, 1, name=f"{name}_logits")(x)
        x = _global_pool(x, pool, name)
        return _output(x, classifier_activation, name)

    if pool is None:
        if len(x.shape) != 2:
            raise ValueError(
                f"Layer '{name}': pool=None needs a pooled (batch, features) input. "
                f"Received: input shape {tuple(x.shape)}; use pool 'avg' or 'flatten'."
            )
    elif len(x.shape) != 4:
        raise ValueError(
            f"Layer '{name}': pool={pool!r} needs a (batch, H, W, C) feature map. "
            f"Received: input shape {tuple(x.shape)}; use pool=None."
        )
    elif pool == "flatten":
        x = keras.layers.Flatten(name=f"{name}_flatten")(x)
    else:
        x = _global_pool(x, pool, name)
    for i, units in enumerate(hidden, start=1):
        x = keras.layers.Dense(units, name=f"{name}_fc{i}")(x)
        x = activation_layer(x, hidden_activation, name=f"{name}_act{i}")
        x = dropout_layer(x, dropout, name=f"{name}_drop{i}")
    if not hidden:
        x = dropout_layer(x, dropout, name=f"{name}_drop")
    x = keras.layers.Dense(classes, name=f"{name}_logits")(x)
    return _output(x, classifier_activation, name)


def _global_pool(x, pool, name):
    cls = keras.layers.GlobalAveragePooling2D if pool == "avg" else keras.layers.GlobalMaxPooling2D
    return cls(name=f"{name}_pool")(x)


def _output(x, activation, name):
    """The classifier's activation in float32 at least: under mixed precision the softmax and the
    loss stay float32; a model built under the float64 policy keeps float64."""
    wide = "float64" if keras.config.dtype_policy().compute_dtype == "float64" else "float32"
    return keras.layers.Activation(activation or "linear", dtype=wide, name=f"{name}_pred")(x)
