"""Batch-level augmentation with Keras' own layers, applied in the tf.data pipeline a batch at a time:
RandAugment on the raw images (`keras.layers.RandAugment`), then MixUp or CutMix on the normalized
images and their one-hot labels (`keras.layers.MixUp`, `keras.layers.CutMix`, its labels mixed by the
exact share of pixels pasted): the labels become the convex combination the images received, and the
loss (categorical cross-entropy) follows them.

Keras' layers are used rather than written again: they are the reference implementations users of
keras-cv and keras-hub know, and they run inside tf.data on any backend, and in the grain path's
threads (`kerascnn.data.feed`) on the backend's CPU device.
"""

from __future__ import annotations

__all__ = ["randaugment", "mixer", "randaugment_layer", "mixer_layers"]


def randaugment_layer(augment, seed: int):
    """`keras.layers.RandAugment` as the recipe sets it, or None when it is off."""
    if not augment.randaugment:
        return None
    import keras

    return keras.layers.RandAugment(
        value_range=(0, 255),
        num_ops=augment.randaugment,
        factor=augment.randaugment_magnitude,
        seed=seed,
        dtype="float32",
    )  # whatever the training precision


def mixer_layers(augment, seed: int) -> list:
    """The recipe's MixUp and CutMix layers (none, one, or both: one of them per batch)."""
    import keras

    layers = []
    if augment.mixup:
        layers.append(keras.layers.MixUp(alpha=augment.mixup, seed=seed, dtype="float32"))
    if augment.cutmix:
        layers.append(
            _exact_cutmix()(factor=(augment.cutmix, augment.cutmix), seed=seed, dtype="float32")
        )
    return layers


def randaugment(augment, seed: int):
    """A function of a batch of raw images (0-255) applying RandAugment, or None when it is off."""
    layer = randaugment_layer(augment, seed)
    if layer is None:
        return None

    def apply(images):
        return layer(images, training=True)

    return apply


def mixer(augment, seed: int):
    """A function of a batch `(images, one-hot labels)` returning them mixed (MixUp, CutMix, or one
    of the two per batch when both are set), or None when neither is set."""
    if not augment.mixup and not augment.cutmix:
        return None
    import tensorflow as tf

    layers = mixer_layers(augment, seed)

    def run(layer, images, labels):
        mixed = layer({"images": images, "labels": tf.cast(labels, images.dtype)}, training=True)
        return mixed["images"], tf.cast(mixed["labels"], labels.dtype)

    if len(layers) == 1:
        return lambda images, labels: run(layers[0], images, labels)
    generator = tf.random.Generator.from_seed(seed)

    def either(images, labels):
        return tf.cond(
            generator.uniform(()) < 0.5,
            lambda: run(layers[0], images, labels),
            lambda: run(layers[1], images, labels),
        )

    return either


def _exact_cutmix():
    import keras

    class ExactCutMix(keras.layers.CutMix):
        """Keras' CutMix with the labels mixed by the pasted box's exact share of the pixels, as
        the paper does (Yun et al. 2019, Sec. 3.1: lambda "adjusted" to the box's area). Keras 3's
        own mixes them by the unrounded box, which differs from the pixels pasted by up to a row
        and a column (0.37 against 0.34 on a 16x16 image)."""

        def transform_labels(self, labels, transformation, training=True):
            if not training or transformation is None:
                return labels
            ops = self.backend.numpy
            mask = self.backend.cast(transformation["batch_masks"], labels.dtype)
            pasted = ops.mean(mask, axis=(1, 2, 3))[:, None]  # the other image's share
            other = ops.take(labels, transformation["permutation_order"], axis=0)
            return (1.0 - pasted) * labels + pasted * other

    return ExactCutMix
