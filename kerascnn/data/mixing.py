"""Batch-level augmentation with Keras' own layers, applied in the tf.data pipeline a batch at a time:
RandAugment on the raw images (`keras.layers.RandAugment`), then MixUp or CutMix on the normalized
images and their one-hot labels (`keras.layers.MixUp`, `keras.layers.CutMix`, its labels mixed by the
exact share of pixels pasted): the labels become the convex combination the images received, and the
loss (categorical cross-entropy) follows them.

Keras' layers are used rather than written again: they are the reference implementations users of
keras-cv and keras-hub know, and they run inside tf.data on any backend, and in the grain path's
threads (`kerascnn.data.feed`) on the backend's CPU device. Each batch's random numbers come from
that batch's seed (`augmented`, `tf_draws`, `numpy_draws`), not from the layers' own state: the
same seed makes the same batches however many are made at once, and a resumed run makes the ones
it would have made.
"""

from __future__ import annotations

import sys

__all__ = [
    "augmented",
    "mixer",
    "mixer_layers",
    "numpy_draws",
    "randaugment",
    "randaugment_layer",
    "tf_draws",
]


def randaugment_layer(augment, seed: int):
    """`keras.layers.RandAugment` as the recipe sets it (its draws from the seed given to
    `augmented`), or None when it is off."""
    if not augment.randaugment:
        return None
    return _seeded_randaugment()(
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


def augmented(layer, images, labels, draws):
    """`layer`'s random transformation of a batch, every random number from `draws`
    (`tf_draws`, `numpy_draws`): the images, and the labels where the layer mixes them."""
    with _computing_where_called(layer):
        images = layer.backend.convert_to_tensor(images, dtype=layer.compute_dtype)
        if labels is not None:
            labels = layer.backend.convert_to_tensor(labels, dtype=layer.compute_dtype)
        data = {"images": images, "labels": labels} if labels is not None else images
        change = layer.get_random_transformation(data, training=True, seed=draws)
        images = layer.transform_images(images, change, training=True)
        if labels is not None:
            labels = layer.transform_labels(labels, change, training=True)
    return images, labels


def randaugment(augment, seed: int):
    """A function of a batch of raw images (0-255) and its seed (a stateless TensorFlow seed)
    applying RandAugment, or None when it is off."""
    layer = randaugment_layer(augment, seed)
    if layer is None:
        return None

    def apply(images, batch_seed):
        return augmented(layer, images, None, tf_draws(batch_seed))[0]

    return apply


def mixer(augment, seed: int):
    """A function of a batch `(images, one-hot labels)` and its seed (a stateless TensorFlow seed)
    returning them mixed (MixUp, CutMix, or one of the two per batch when both are set), or None
    when neither is set."""
    if not augment.mixup and not augment.cutmix:
        return None
    import tensorflow as tf

    layers = mixer_layers(augment, seed)

    def run(layer, images, labels, batch_seed):
        mixed, y = augmented(layer, images, tf.cast(labels, images.dtype), tf_draws(batch_seed))
        return mixed, tf.cast(y, labels.dtype)

    if len(layers) == 1:
        return lambda images, labels, batch_seed: run(layers[0], images, labels, batch_seed)

    def either(images, labels, batch_seed):
        which, draws = tf.unstack(tf.random.experimental.stateless_split(batch_seed, 2), num=2)
        return tf.cond(
            tf.random.stateless_uniform((), which) < 0.5,
            lambda: run(layers[0], images, labels, draws),
            lambda: run(layers[1], images, labels, draws),
        )

    return either


def tf_draws(batch_seed):
    """Seeds for Keras' random layers inside a tf.data function: the k-th a pure function of the
    batch's seed and k."""
    import tensorflow as tf

    return _draws(lambda k: tf.random.experimental.stateless_fold_in(batch_seed, k))


def numpy_draws(rng):
    """Seeds for Keras' random layers on the backend's CPU (the grain path): from `rng`, the
    batch's own NumPy generator."""
    import keras

    from kerascnn.backend.internals import random_seed_dtype

    dtype = random_seed_dtype()
    return _draws(lambda k: keras.ops.convert_to_tensor(rng.integers(0, 2**31 - 1, 2), dtype=dtype))


def _draws(derive):
    """A `keras.random.SeedGenerator` that keeps no state: its k-th `next()` is `derive(k)`.

    Keras' random layers take a SeedGenerator as `seed` (or an integer, which gives every draw one
    seed). Their own draws from a generator's state variable, and in tf.data's parallel calls, or
    grain's threads, the batches take their turns with it in no fixed order: the same seed did not
    make the same batches, and a resumed run could not make the batches it would have made. Here a
    batch's every draw is a function of that batch's seed, as the crops and flips are."""
    from keras.random import SeedGenerator

    class Draws(SeedGenerator):
        def __init__(self):  # not SeedGenerator's: it makes a state variable (none in tf.data)
            self._count = 0

        def next(self, ordered=True):
            self._count += 1
            return derive(self._count)

    return Draws()


class _computing_where_called:
    """Keras' random layers compute with the backend of where they are called: TensorFlow inside a
    tf.data function whatever the Keras backend (what `TFDataLayer.__call__` does for a call; here
    for the transformation's methods, called one by one with their seed)."""

    def __init__(self, layer):
        self.layers = []
        tf = sys.modules.get("tensorflow")  # not imported: no tf.data function
        if tf is not None and tf.inside_function():
            parts = getattr(layer, "_AUGMENT_LAYERS", ())  # RandAugment's operations
            self.layers = [layer, *(getattr(layer, name) for name in parts)]

    def __enter__(self):
        for layer in self.layers:
            layer.backend.set_backend("tensorflow")

    def __exit__(self, *exc):
        for layer in self.layers:
            layer.backend.reset()


def _seeded_randaugment():
    import keras

    class SeededRandAugment(keras.layers.RandAugment):
        """Keras' RandAugment drawing from the `seed` given to `get_random_transformation` (Keras'
        own ignores it and draws from the layer's state), as its operations already do."""

        def get_random_transformation(self, data, training=True, seed=None):
            if seed is None or not training:
                return super().get_random_transformation(data, training=training, seed=seed)
            chosen = self.backend.random.randint(
                (self.num_ops,), 0, len(self._AUGMENT_LAYERS), seed=seed
            )
            transforms = {
                name: getattr(self, name).get_random_transformation(data, training=True, seed=seed)
                for name in self._AUGMENT_LAYERS
            }
            return {"transforms": transforms, "layer_idxes": chosen}

    return SeededRandAugment


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
