"""Gradient pictures: Grad-CAM (Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks
via Gradient-based Localization", ICCV 2017), the image-specific saliency map (Simonyan, Vedaldi &
Zisserman, "Deep Inside Convolutional Networks", ICLR 2014 workshop) and guided backpropagation
(Springenberg et al., "Striving for Simplicity: The All Convolutional Net", ICLR 2015 workshop), the
gradient-based successor of ZFNet's deconvnet projection (Zeiler & Fergus, ECCV 2014).

Images are network inputs (sized and normalized, `(n, H, W, C)`); each map is `(n, H, W)` in [0, 1].
The gradients are the backend's own: TensorFlow's `GradientTape`, `jax.grad` or `torch.autograd`
(`_gradient`). On JAX and PyTorch, Grad-CAM differentiates the part of the network after its layer
(`keras.Model(layer.output, ...)`), so the layer must be one that everything after it depends on
alone (a stage's output, the default, always is); TensorFlow takes any layer.
"""

from __future__ import annotations

import contextlib

import numpy as np

from kerascnn.backend.gradients import gradient, require_gradients
from kerascnn.config import ConfigError
from kerascnn.visualize.targets import chosen_classes, score_source, target_layer


def gradcam(model, images, *, classes=None, layer: str | None = None) -> np.ndarray:
    """Grad-CAM: the target layer's feature maps weighted by the mean gradient of the class score
    over each map, summed, ReLU'd, brought to the image size (bilinear) and scaled to [0, 1].

    Args:
        model: a Functional classification model (a run's, a zoo or spec network).
        images: network inputs `(n, H, W, C)`.
        classes: None (each image's top class), one class index, or one per image.
        layer: a layer or stage name (default: the last stage's output, `target_layer`).
    """
    import keras

    backend = require_gradients()
    images = np.asarray(images, "float32")
    picked = chosen_classes(model, images, classes)
    target = model.get_layer(target_layer(model, layer))
    source, to_scores = score_source(model)
    if backend == "tensorflow":
        import tensorflow as tf

        probe = keras.Model(model.inputs[0], [target.output, source])
        with tf.GradientTape() as tape:
            maps, z = probe(images, training=False)
            score = tf.gather(to_scores(z), picked, batch_dims=1)
        grads = np.asarray(tf.cast(tape.gradient(score, maps), "float32"))
    else:  # the network after the layer, differentiated at the layer's output
        maps = keras.Model(model.inputs[0], target.output)(images, training=False)
        head = _head(model, target, source)
        grads = gradient(lambda a: _picked_sum(to_scores(head(a, training=False)), picked), maps)
    maps = np.asarray(keras.ops.convert_to_numpy(maps), "float32")
    weights = grads.mean(axis=(1, 2), keepdims=True)  # alpha_k^c, Eq. 1
    cam = np.maximum((weights * maps).sum(-1, keepdims=True), 0)  # Eq. 2
    cam = keras.ops.image.resize(cam, images.shape[1:3], interpolation="bilinear")
    return _unit(np.asarray(keras.ops.convert_to_numpy(cam))[..., 0])


def saliency(model, images, *, classes=None, guided: bool = False) -> np.ndarray:
    """|d score / d pixel|, the largest over the channels (Simonyan et al., Sec. 3.1); with
    `guided`, guided backpropagation: through every ReLU only positive gradients pass, and only
    where the ReLU's input was positive (Springenberg et al., Sec. 3.4), then the same reduction."""
    import keras

    require_gradients()
    images = np.asarray(images, "float32")
    picked = chosen_classes(model, images, classes)
    source, to_scores = score_source(model)
    probe = keras.Model(model.inputs[0], source)
    with _guided_relus(model) if guided else contextlib.nullcontext():
        grads = gradient(lambda x: _picked_sum(to_scores(probe(x, training=False)), picked), images)
    return _unit(np.abs(grads).max(-1))


def _picked_sum(scores, picked: np.ndarray):
    """The sum over the batch of each image's score for its class (the images are independent, so
    its gradient holds each image's own)."""
    import keras

    chosen = keras.ops.take_along_axis(scores, keras.ops.convert_to_tensor(picked[:, None]), 1)
    return keras.ops.sum(keras.ops.cast(chosen, "float32"))


def _head(model, target, source):
    """The network from `target`'s output to `source`, as a model of its own (JAX differentiates
    functions, not tapes); a layer that something after it goes around is refused, naming it."""
    import keras

    try:
        return keras.Model(target.output, source)
    except ValueError:
        raise ConfigError(
            f"on the {keras.backend.backend()} backend Grad-CAM needs a layer whose "
            f"output everything after it depends on alone (a stage's output, the "
            f"default); something after {target.name!r} goes around it.",
            hint="name a stage (the last one is the default), or use the "
            "TensorFlow backend, which takes any layer.",
        ) from None


@contextlib.contextmanager
def _guided_relus(model):
    """Every ReLU of the model (Activation layers and layers with activation="relu") computes
    guided backpropagation's gradient while the context lasts."""
    import keras

    @keras.ops.custom_gradient
    def guided_relu(x):
        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            return (
                upstream
                * keras.ops.cast(x > 0, upstream.dtype)
                * keras.ops.cast(upstream > 0, upstream.dtype)
            )

        return keras.ops.relu(x), grad

    swapped = []
    for layer in _layers(model):
        activation = getattr(layer, "activation", None)
        if getattr(activation, "__name__", "") == "relu":
            swapped.append((layer, activation))
            layer.activation = guided_relu
    try:
        yield
    finally:
        for layer, activation in swapped:
            layer.activation = activation


def _layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):  # a nested model
            yield from _layers(layer)


def _unit(maps: np.ndarray) -> np.ndarray:
    """Each map scaled to [0, 1] by its own maximum (an all-zero map stays zero)."""
    maps = np.asarray(maps, "float32")
    peak = maps.reshape(len(maps), -1).max(1).reshape(-1, *([1] * (maps.ndim - 1)))
    return np.where(peak > 0, maps / np.where(peak > 0, peak, 1), 0).astype("float32")
