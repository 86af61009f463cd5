"""Where the pictures look: the layer Grad-CAM weighs (the last stage's output, found from the stage
structure), each stage's output (feature maps), the class scores before the softmax, and the class
each image is explained for."""

from __future__ import annotations

import keras
import numpy as np

from kerascnn.backend.internals import producing_layer
from kerascnn.config import ConfigError
from kerascnn.config.errors import did_you_mean
from kerascnn.spec import stage_of

SQUASHING = ("softmax", "sigmoid")


def _spatial(layer) -> bool:
    shape = getattr(layer, "output", None)
    shape = getattr(shape, "shape", None)
    return shape is not None and len(shape) == 4


def feature_stages(model) -> dict[str, str]:
    """Stage -> the name of its last layer with a feature map (batch, H, W, C), in the model's
    order, the head left out: the output of each stage (an Inception module's concatenation, a
    residual stage's last addition or activation, a dense block's last concatenation)."""
    stages = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer) or not _spatial(layer):
            continue
        stage = stage_of(layer.name)
        if stage == "head":
            continue
        stages.pop(stage, None)  # keep the order of each stage's last layer
        stages[stage] = layer.name
    return stages


def target_layer(model, layer: str | None = None) -> str:
    """The layer whose output Grad-CAM weighs: by default the last stage's output (the last feature
    map before the head, through concatenations); `layer` names a layer, or a stage (its output).

    Raises:
        ConfigError: `layer` is neither a layer nor a stage with a feature map, or the model has no
            feature map at all.
    """
    stages = feature_stages(model)
    if not stages:
        raise ConfigError(
            f"{model.name!r} has no layer with a (batch, height, width, channels) output to explain."
        )
    if layer is None:
        return list(stages.values())[-1]
    names = [x.name for x in model.layers]
    if layer in stages:
        return stages[layer]
    if layer in names:
        found = model.get_layer(layer)
        if not _spatial(found):
            raise ConfigError(
                f"layer {layer!r} of {model.name!r} gives {tuple(found.output.shape)}, "
                f"not a feature map (batch, height, width, channels)."
            )
        return layer
    raise ConfigError(
        f"{model.name!r} has no layer or stage named {layer!r}. Stages: {', '.join(stages)}.",
        hint=did_you_mean(layer, [*stages, *names]),
    )


def score_source(model):
    """(tensor, to_scores): the tensor to take from the model and the function that turns it into
    class scores before the squashing (Grad-CAM and saliency differentiate scores, not
    probabilities: Selvaraju et al. 2017, Sec. 3; Simonyan et al. 2014, Sec. 2)."""
    output = model.outputs[0]
    layer = producing_layer(output)
    name = getattr(getattr(layer, "activation", None), "__name__", "")
    if isinstance(layer, keras.layers.Activation) and name in SQUASHING:
        return layer.input, lambda z: z
    if isinstance(layer, keras.layers.Softmax):
        return layer.input, lambda z: z
    if isinstance(layer, keras.layers.Dense) and name in SQUASHING:
        kernel, bias = layer.kernel, layer.bias

        def logits(z):
            z = keras.ops.matmul(keras.ops.cast(z, "float32"), keras.ops.cast(kernel, "float32"))
            return z if bias is None else z + keras.ops.cast(bias, "float32")

        return layer.input, logits
    return output, lambda z: z


def chosen_classes(model, images: np.ndarray, classes) -> np.ndarray:
    """One class per image: the model's top class (None), one class for all (an int), or one each."""
    n = len(images)
    if classes is None:
        return np.asarray(model.predict_on_batch(images)).argmax(-1).astype(int)
    picked = (
        np.broadcast_to(np.asarray(classes, dtype=int), (n,))
        if np.ndim(classes) == 0
        else np.asarray(classes, dtype=int)
    )
    count = int(model.outputs[0].shape[-1])
    if picked.shape != (n,) or picked.min() < 0 or picked.max() >= count:
        raise ConfigError(
            f"classes must be one class index (0 to {count - 1}) or one per image "
            f"({n}). Received: {classes!r}."
        )
    return picked
