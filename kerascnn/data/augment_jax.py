"""The augmentations on the device path: JAX operations on a batch of raw images (0-255) held on the
accelerator, each image drawing its own from a JAX key; what each means is its row of
`kerascnn.data.augment.TABLE` (the rows without an operation here are what the device path
refuses).

A row's operation here is `make(setting) -> step`, `step(images, labels, key) -> (images, labels)`,
traced into the device feed's one jitted function a batch.
"""

from __future__ import annotations

__all__ = ["crops_from_load_size", "padded_crops", "flips", "random_crops", "random_flips"]


# --- the table's operations -----------------------------------------------------------------------


def crops_from_load_size(setting):
    """`load_size`: each image's crop of `image_size` at its own random place."""
    return lambda images, labels, key: (random_crops(images, setting.size, key), labels)


def padded_crops(setting):
    """`crop_padding`: each image padded with zeros, then cropped back at its own random place."""
    padding = setting.augment.crop_padding
    return lambda images, labels, key: (
        random_crops(images, setting.size, key, padding=padding),
        labels,
    )


def flips(setting):
    """`flip`: each image mirrored left to right with probability 1/2."""
    return lambda images, labels, key: (random_flips(images, key), labels)


# --- the operations themselves --------------------------------------------------------------------


def random_crops(images, size, key, *, padding: int = 0):
    """A batch's crops of `size`, each image's at its own random place (uniform over every place
    that fits), from the images padded by `padding` zeros on each side."""
    import jax
    import jax.numpy as jnp

    if padding:
        images = jnp.pad(images, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    n, height, width = images.shape[:3]
    down, across = jax.random.split(key)
    top = jax.random.randint(down, (n,), 0, height - size[0] + 1)
    left = jax.random.randint(across, (n,), 0, width - size[1] + 1)
    return jax.vmap(
        lambda image, t, left_: jax.lax.dynamic_slice(
            image, (t, left_, 0), (size[0], size[1], image.shape[-1])
        )
    )(images, top, left)


def random_flips(images, key):
    """Each image of a batch mirrored left to right with probability 1/2."""
    import jax
    import jax.numpy as jnp

    mirror = jax.random.uniform(key, (images.shape[0], 1, 1, 1)) < 0.5
    return jnp.where(mirror, images[:, :, ::-1], images)
