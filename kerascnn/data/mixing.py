"""Keras' own augmentation layers as the tf.data and grain paths run them a batch at a time
(`kerascnn.data.augment_tf`, `kerascnn.data.augment_numpy`): RandAugment on the raw images, then
MixUp or CutMix on the normalized images and their one-hot labels (CutMix's labels mixed by the exact
share of pixels pasted), the labels the convex combination the images received. They run inside
tf.data on any backend and in the grain path's threads on the backend's CPU device. Each batch's
random numbers come from that batch's seed (`augmented`, `tf_draws`, `numpy_draws`), not from the
layers' own state: the same seed makes the same batches however many are made at once, and a
resumed run makes the ones it would have made.
"""

from __future__ import annotations

import sys

from kerascnn.backend.internals import random_seed_dtype

__all__ = [
    "augmented",
    "cutmix_layer",
    "mixup_layer",
    "numpy_draws",
    "randaugment_layer",
    "tf_draws",
]


def randaugment_layer(augment, seed: int):
    """`keras.layers.RandAugment` as the recipe sets it (`randaugment`, `randaugment_magnitude`),
    its draws from the seed given to `augmented`."""
    return _seeded_randaugment()(
        value_range=(0, 255),
        num_ops=augment.randaugment,
        factor=augment.randaugment_magnitude,
        seed=seed,
        dtype="float32",
    )  # whatever the training precision


def mixup_layer(augment, seed: int):
    """`keras.layers.MixUp` as the recipe sets it (`mixup`: its alpha)."""
    import keras

    return keras.layers.MixUp(alpha=augment.mixup, seed=seed, dtype="float32")


def cutmix_layer(augment, seed: int):
    """CutMix as the recipe sets it (`cutmix`: its alpha), its labels mixed by the pixels pasted."""
    return _exact_cutmix()(factor=(augment.cutmix, augment.cutmix), seed=seed, dtype="float32")


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


def tf_draws(batch_seed):
    """Seeds for Keras' random layers inside a tf.data function: the k-th a pure function of the
    batch's seed and k."""
    import tensorflow as tf

    return _draws(lambda k: tf.random.experimental.stateless_fold_in(batch_seed, k))


def numpy_draws(rng):
    """Seeds for Keras' random layers on the backend's CPU (the grain path): from `rng`, the
    batch's own NumPy generator."""
    import keras

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
