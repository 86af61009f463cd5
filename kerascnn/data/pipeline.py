"""The tf.data input pipeline of a recipe: resize, augment (training only), normalize, one-hot, batch.

`load_data(recipe)` returns batched datasets ready for `model.fit` and the facts the run reports and
saves (sizes, classes, normalization constants, so evaluation and prediction repeat it exactly).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kerascnn.data.sources import load_source
from kerascnn.recipe import Recipe

IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)
STATS_SAMPLE = 10_000  # images used to estimate the training set's mean and std


@dataclass
class Data:
    train: object
    val: object | None
    test: object | None
    sizes: dict
    classes: int
    class_names: list[str]
    input_shape: tuple[int, int, int]
    mean: list[float]
    std: list[float]
    description: str
    steps_per_epoch: int | None = None
    facts: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """What a run directory keeps (`data.json`) to feed evaluation and prediction the same way."""
        return {"description": self.description, "sizes": self.sizes, "classes": self.classes,
                "class_names": self.class_names, "input_shape": list(self.input_shape),
                "mean": self.mean, "std": self.std}


def load_data(recipe: Recipe, *, outputs: int = 1, seed: int | None = None) -> Data:
    """The recipe's data as batched `tf.data` datasets of `(normalized image, one-hot label)`.

    Args:
        outputs: the model's number of outputs (GoogLeNet with auxiliary heads: 3); labels are
            repeated for each.
    """
    import tensorflow as tf

    d, aug = recipe.data, recipe.augment
    seed = recipe.train.seed if seed is None else seed
    splits = load_source(recipe, seed)
    h, w = d.image_size or splits.image_shape[:2]
    channels = d.channels or splits.image_shape[2]

    def shape(image, label):
        if image.shape[-1] != channels:
            image = (tf.image.grayscale_to_rgb(image) if channels == 3
                     else tf.image.rgb_to_grayscale(image))
        if tuple(image.shape[:2]) != (h, w):
            image = tf.image.resize(image, (h, w))
        image = tf.ensure_shape(image, (h, w, channels))
        return image, label

    shaped = {k: None if ds is None else ds.map(shape, num_parallel_calls=tf.data.AUTOTUNE)
              for k, ds in (("train", splits.train), ("val", splits.val), ("test", splits.test))}
    mean, std = _statistics(d.normalize, shaped["train"], channels)
    mean_t = tf.constant(mean, "float32")
    std_t = tf.constant(std, "float32")

    def finish(image, label):
        image = (image - mean_t) / std_t
        y = tf.one_hot(label, splits.classes)
        return image, (y if outputs == 1 else tuple([y] * outputs))

    def augment(image, label):
        if aug.scale is not None:
            image = _random_resized_crop(image, aug.scale, aug.ratio, (h, w))
        if aug.crop_padding:
            p = aug.crop_padding
            image = tf.pad(image, [[p, p], [p, p], [0, 0]])
            image = tf.image.random_crop(image, (h, w, channels))
        if aug.flip:
            image = tf.image.random_flip_left_right(image)
        return image, label

    def batched(ds, training):
        if d.cache:
            ds = ds.cache()
        if training:
            ds = ds.shuffle(d.shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
            if aug.scale is not None or aug.crop_padding or aug.flip:
                ds = ds.map(augment, num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.map(finish, num_parallel_calls=tf.data.AUTOTUNE)
        return ds.batch(d.batch_size).prefetch(tf.data.AUTOTUNE)

    train_size = splits.sizes.get("train")
    data = Data(
        train=batched(shaped["train"], True),
        val=None if shaped["val"] is None else batched(shaped["val"], False),
        test=None if shaped["test"] is None else batched(shaped["test"], False),
        sizes=splits.sizes, classes=splits.classes, class_names=splits.class_names,
        input_shape=(int(h), int(w), int(channels)), mean=mean, std=std,
        description=splits.description,
        steps_per_epoch=None if train_size is None else -(-train_size // d.batch_size))
    return data


def normalize_images(images, mean, std):
    """Apply a run's normalization to raw images (0-255), as `load_data` did in training."""
    return (np.asarray(images, "float32") - np.asarray(mean, "float32")) / np.asarray(std, "float32")


def _statistics(kind, train, channels) -> tuple[list[float], list[float]]:
    if kind == "none":
        return [0.0] * channels, [1.0] * channels
    if kind == "unit":
        return [0.0] * channels, [255.0] * channels
    if kind == "imagenet":
        if channels == 1:
            return [float(np.mean(IMAGENET_MEAN))], [float(np.mean(IMAGENET_STD))]
        return list(IMAGENET_MEAN), list(IMAGENET_STD)
    total = np.zeros(channels)
    squares = np.zeros(channels)
    count = 0
    for images, _ in train.take(STATS_SAMPLE).batch(512).as_numpy_iterator():
        flat = images.reshape(-1, channels).astype("float64")
        total += flat.sum(0)
        squares += (flat ** 2).sum(0)
        count += flat.shape[0]
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean ** 2, 1e-12))
    return [float(m) for m in mean], [float(max(s, 1e-3)) for s in std]


def _random_resized_crop(image, scale, ratio, size):
    """The Inception-style crop: a random box covering `scale` of the area with aspect `ratio`."""
    import tensorflow as tf

    begin, extent, _ = tf.image.sample_distorted_bounding_box(
        tf.shape(image), bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
        min_object_covered=0.0, aspect_ratio_range=tuple(ratio), area_range=tuple(scale),
        max_attempts=10, use_image_if_no_bounding_boxes=True)
    crop = tf.slice(image, begin, extent)
    return tf.image.resize(crop, size)
