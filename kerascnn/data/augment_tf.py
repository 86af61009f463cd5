"""The augmentations on the tf.data path: TensorFlow operations on a batch of raw images (0-255),
each image drawing its own, from a stateless seed; what each means is its row of
`kerascnn.data.augment.TABLE`.

A row's operation here is `make(setting) -> step`, `step(images, labels, seed) -> (images, labels)`
with `seed` a stateless TensorFlow seed (2 integers): on one image for the rows that crop each image
to its own size (`stage = "image"`), on a batch otherwise.
"""

from __future__ import annotations

from kerascnn.data.mixing import augmented, cutmix_layer, mixup_layer, randaugment_layer, tf_draws

__all__ = [
    "crops_from_load_size",
    "resized_crop",
    "padded_crops",
    "flips",
    "randaugment",
    "mixup",
    "cutmix",
    "one_per_batch",
    "random_crops",
    "random_flips",
    "random_resized_crop",
]


# --- the table's operations -----------------------------------------------------------------------


def crops_from_load_size(setting):
    """`load_size`: each image's crop of `image_size` at its own random place."""
    return lambda images, labels, seed: (random_crops(images, setting.size, seed), labels)


def resized_crop(setting):
    """`scale`, `ratio`: one image's random-resized crop, resized to `image_size`."""
    aug = setting.augment
    return lambda image, label, seed: (
        random_resized_crop(image, aug.scale, aug.ratio, setting.size, seed),
        label,
    )


def padded_crops(setting):
    """`crop_padding`: each image padded with zeros, then cropped back at its own random place."""
    padding = setting.augment.crop_padding
    return lambda images, labels, seed: (
        random_crops(images, setting.size, seed, padding=padding),
        labels,
    )


def flips(setting):
    """`flip`: each image mirrored left to right with probability 1/2."""
    return lambda images, labels, seed: (random_flips(images, seed), labels)


def randaugment(setting):
    """`randaugment`: Keras' RandAugment, its draws from the batch's seed."""
    layer = randaugment_layer(setting.augment, setting.seed)
    return lambda images, labels, seed: (augmented(layer, images, None, tf_draws(seed))[0], labels)


def mixup(setting):
    """`mixup`: Keras' MixUp of the normalized images and their one-hot labels."""
    return _mixing(mixup_layer(setting.augment, setting.seed))


def cutmix(setting):
    """`cutmix`: CutMix of the normalized images, the labels mixed by the pixels pasted."""
    return _mixing(cutmix_layer(setting.augment, setting.seed))


def _mixing(layer):
    import tensorflow as tf

    def step(images, labels, seed):
        mixed, y = augmented(layer, images, tf.cast(labels, images.dtype), tf_draws(seed))
        return mixed, tf.cast(y, labels.dtype)

    return step


def one_per_batch(steps):
    """The mixing rows' steps as one: the only one, or one of them per batch, each as likely
    (drawn from the batch's seed); None when there are none."""
    if not steps:
        return None
    if len(steps) == 1:
        return steps[0]
    import tensorflow as tf

    def either(images, labels, seed):
        which, draws = tf.unstack(tf.random.experimental.stateless_split(seed, 2), num=2)
        index = tf.cast(tf.random.stateless_uniform((), which) * len(steps), tf.int32)
        return tf.switch_case(index, [lambda s=s: s(images, labels, draws) for s in steps])

    return either


# --- the operations themselves --------------------------------------------------------------------


def random_crops(images, size, seed, *, padding: int = 0):
    """A batch's crops of `size`, each image's at its own random place (uniform over every place
    that fits), from the images padded by `padding` zeros on each side: one gather per axis.
    `seed`: a stateless seed (2 integers)."""
    import tensorflow as tf

    if padding:
        images = tf.pad(images, [[0, 0], [padding, padding], [padding, padding], [0, 0]])
    n, height, width = tf.shape(images)[0], tf.shape(images)[1], tf.shape(images)[2]
    down, across = tf.unstack(tf.random.experimental.stateless_split(seed, 2), num=2)
    top = tf.random.stateless_uniform((n, 1), down, 0, height - size[0] + 1, tf.int32)
    left = tf.random.stateless_uniform((n, 1), across, 0, width - size[1] + 1, tf.int32)
    images = tf.gather(images, top + tf.range(size[0]), axis=1, batch_dims=1)
    return tf.gather(images, left + tf.range(size[1]), axis=2, batch_dims=1)


def random_flips(images, seed):
    """Each image of a batch mirrored left to right with probability 1/2."""
    import tensorflow as tf

    flip = tf.random.stateless_uniform((tf.shape(images)[0], 1, 1, 1), seed) < 0.5
    return tf.where(flip, images[:, :, ::-1], images)


def random_resized_crop(image, scale, ratio, size, seed):
    """The Inception-style crop: a random box covering `scale` of the area with aspect `ratio`,
    drawn from `seed` (a stateless seed, 2 integers)."""
    import tensorflow as tf

    begin, extent, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.shape(image),
        bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
        seed=seed,
        min_object_covered=0.0,
        aspect_ratio_range=tuple(ratio),
        area_range=tuple(scale),
        max_attempts=10,
        use_image_if_no_bounding_boxes=True,
    )
    crop = tf.slice(image, begin, extent)
    return tf.ensure_shape(tf.image.resize(crop, size), (*size, image.shape[-1]))  # channels kept
