"""The augmentations on the grain path: NumPy operations on a batch of raw images (0-255), each
image drawing its own from the batch's NumPy generator, as the tf.data path's
(`kerascnn.data.augment_tf`) mean them; what each means is its row of `kerascnn.data.augment.TABLE`.

A row's operation here is `make(setting) -> step`, `step(images, labels, rng) -> (images, labels)`
with `rng` the batch's `numpy.random.Generator`. Keras' layers (RandAugment, MixUp, CutMix) run on
the backend's CPU device, their results back in NumPy.
"""

from __future__ import annotations

import math

import numpy as np

from kerascnn.data.images import resize
from kerascnn.data.mixing import augmented, cutmix_layer, mixup_layer, numpy_draws, randaugment_layer

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
    return lambda images, labels, rng: (random_crops(images, setting.size, rng), labels)


def resized_crop(setting):
    """`scale`, `ratio`: each image's random-resized crop, resized to `image_size`."""
    aug = setting.augment

    def step(images, labels, rng):
        crops = [random_resized_crop(image, aug.scale, aug.ratio, setting.size, rng) for image in images]
        return np.stack(crops), labels

    return step


def padded_crops(setting):
    """`crop_padding`: each image padded with zeros, then cropped back at its own random place."""
    padding = setting.augment.crop_padding
    return lambda images, labels, rng: (
        random_crops(images, setting.size, rng, padding=padding),
        labels,
    )


def flips(setting):
    """`flip`: each image mirrored left to right with probability 1/2."""
    return lambda images, labels, rng: (random_flips(images, rng), labels)


def randaugment(setting):
    """`randaugment`: Keras' RandAugment, its draws from the batch's generator."""
    layer = randaugment_layer(setting.augment, setting.seed)

    def step(images, labels, rng):
        import keras

        with keras.device("cpu"):
            images, _ = augmented(layer, images, None, numpy_draws(rng))
            return keras.ops.convert_to_numpy(images).astype(np.float32), labels

    return step


def mixup(setting):
    """`mixup`: Keras' MixUp of the normalized images and their one-hot labels."""
    return _mixing(mixup_layer(setting.augment, setting.seed))


def cutmix(setting):
    """`cutmix`: CutMix of the normalized images, the labels mixed by the pixels pasted."""
    return _mixing(cutmix_layer(setting.augment, setting.seed))


def _mixing(layer):
    def step(images, labels, rng):
        import keras

        with keras.device("cpu"):
            x, y = augmented(layer, images, labels, numpy_draws(rng))
            return keras.ops.convert_to_numpy(x), keras.ops.convert_to_numpy(y)

    return step


def one_per_batch(steps):
    """The mixing rows' steps as one: the only one, or one of them per batch, each as likely
    (drawn from the batch's generator); None when there are none."""
    if not steps:
        return None
    if len(steps) == 1:
        return steps[0]

    def either(images, labels, rng):
        return steps[int(rng.random() * len(steps))](images, labels, rng)

    return either


# --- the operations themselves --------------------------------------------------------------------


def random_crops(images: np.ndarray, size, rng, *, padding: int = 0) -> np.ndarray:
    """Each image's crop of `size` at its own uniform random place, after `padding` zeros on
    each side (`kerascnn.data.augment_tf.random_crops`)."""
    if padding:
        images = np.pad(images, [(0, 0), (padding, padding), (padding, padding), (0, 0)])
    n, height, width = images.shape[:3]
    top = rng.integers(0, height - size[0] + 1, n)
    left = rng.integers(0, width - size[1] + 1, n)
    rows = top[:, None] + np.arange(size[0])
    cols = left[:, None] + np.arange(size[1])
    return images[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]


def random_flips(images: np.ndarray, rng) -> np.ndarray:
    """Each image mirrored left to right with probability 1/2."""
    flip = rng.random(len(images)) < 0.5
    out = images.copy()
    out[flip] = images[flip, :, ::-1]
    return out


def random_resized_crop(image: np.ndarray, scale, ratio, size, rng) -> np.ndarray:
    """The Inception-style crop as TensorFlow's `sample_distorted_bounding_box` draws it (area in
    `scale` of the image's, aspect in `ratio`, ten tries, else the whole image), resized to
    `size` (bilinear)."""

    height, width = image.shape[:2]
    area = height * width
    box = (0, 0, height, width)
    for _ in range(10):
        aspect = rng.uniform(ratio[0], ratio[1])
        low = int(round(math.sqrt(scale[0] * area / aspect)))
        high = int(round(math.sqrt(scale[1] * area / aspect)))
        if round(high * aspect) > width:
            high = int((width + 0.5 - 1e-7) / aspect)
        high = min(high, height)
        low = min(low, high)
        h = int(rng.integers(low, high + 1)) if low < high else high
        w = int(round(h * aspect))
        if w * h < scale[0] * area:
            h += 1
            w = int(round(h * aspect))
        if scale[0] * area <= w * h <= scale[1] * area and 0 < w <= width and 0 < h <= height:
            top = int(rng.integers(0, height - h + 1))
            left = int(rng.integers(0, width - w + 1))
            box = (top, left, h, w)
            break
    top, left, h, w = box
    return resize(image[top : top + h, left : left + w], size)
