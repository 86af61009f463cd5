"""Small images held on the accelerator and augmented there (JAX): the CIFAR recipes' padded random
crops and flips without the host in the loop.

The training split is copied to the device once (uint8 when its values are whole numbers 0-255, as
CIFAR's are: 150 MB for 50,000 32x32x3 images); each batch is gathered, cropped, flipped,
normalized and one-hot encoded there by one jitted function, and handed to `model.fit` as device
arrays (Keras passes `jax.Array`s through untouched). The order is the grain path's (the epoch's
permutation of the seed and the epoch, `kerascnn.data.feed.Feed.order`), the draws JAX's, from a key
folded with the epoch and the batch: so a resumed run sees the very batches it would have seen here
too. This is the approach of the "CIFAR-10 on the GPU in seconds" line of work (Page 2018,
Jordan's airbench 2024): with ResNet-20-sized models a GPU waits on a host feed (BENCHMARKS.md: the
host feed was 30 % of a ResNet-20 epoch on an H100).

Differences from doing it in the train step itself: the augmentation is its own jitted call before
each step, not fused into the step (one extra dispatch a batch, no host work, no transfer).

`data.on_device`: "auto" uses it on JAX with an accelerator when the source holds its images in
memory and the augmentation is only crops and flips; true asks for it (also on a CPU: the tests).
"""

from __future__ import annotations

from functools import partial

import numpy as np

from kerascnn.data.feed import Batches

__all__ = ["DeviceFeed", "device_feed", "usable"]


def usable(recipe, part, *, accelerator: bool) -> str | None:
    """Why the device feed cannot take this recipe's training split (None: it can)."""
    import keras

    aug = recipe.augment
    if keras.backend.backend() != "jax":
        return "it runs on JAX"
    if recipe.train.distribution == "multi_worker":
        return "its processes read shares of each batch (the grain path does)"
    if getattr(part, "images", None) is None:
        return "its images are not held in memory (digits, synthetic, glyphs)"
    if aug.scale is not None or aug.randaugment or aug.mixup or aug.cutmix:
        return "it crops and flips only (no random-resized crop, RandAugment, MixUp or CutMix)"
    if recipe.data.on_device == "auto" and not accelerator:
        return "there is no accelerator"
    return None


def device_feed(recipe, part, pre, classes: int, seed: int, drop_remainder: bool):
    """A `DeviceFeed` of the training split where it applies (see `data.on_device`), else None;
    asked for by `on_device = true` where it cannot, one line says why."""
    import keras

    if recipe.data.on_device is False:
        return None
    accelerator = keras.backend.backend() == "jax" and _jax_accelerator()
    why = usable(recipe, part, accelerator=accelerator)
    if why is not None:
        if recipe.data.on_device is True:
            raise recipe.error(
                ("data", "on_device"),
                f"the training images cannot be held and augmented on the device: {why}.",
            )
        return None
    from kerascnn.data.feed import ShapedPart

    images, labels = ShapedPart(part, pre, cache=False).read(np.arange(len(part)))
    aug = recipe.augment
    return DeviceFeed(
        images,
        labels,
        pre=pre,
        classes=classes,
        batch_size=recipe.data.batch_size,
        seed=seed,
        crop_padding=aug.crop_padding,
        flip=aug.flip,
        drop_remainder=drop_remainder,
    )


def _jax_accelerator() -> bool:
    import jax

    return jax.default_backend() != "cpu"


class DeviceFeed(Batches):
    """The training split's batches, made on the device (see the module docstring): what
    `kerascnn.data.feed.Batches` gives the trainer, each batch a JAX array."""

    on_device = True

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        *,
        pre,
        classes: int,
        batch_size: int,
        seed: int,
        crop_padding: int = 0,
        flip: bool = False,
        _arrays=None,
        **options,
    ):
        import jax

        super().__init__(len(labels), batch_size, seed=seed, **options)
        self.pre, self.classes = pre, classes
        self.crop_padding, self.flip = crop_padding, flip
        self._source = (images, labels)
        if _arrays is None:
            whole = np.all(images == np.round(images)) and images.min() >= 0 and images.max() <= 255
            _arrays = (
                jax.device_put(images.astype(np.uint8 if whole else np.float32)),
                jax.device_put(np.asarray(labels, np.int32)),
            )
        self._x, self._y = _arrays
        self._key = jax.random.key(seed)
        size = tuple(pre.input_shape[:2])
        self._augment = jax.jit(
            partial(
                _augment,
                size=size,
                padding=int(crop_padding),
                flip=bool(flip),
                cropped=tuple(pre.load_size) != size,
                mean=tuple(pre.mean),
                std=tuple(pre.std),
                bgr=bool(pre.bgr),
                classes=int(classes),
            )
        )

    def _make(self, epoch, index, chosen):
        import jax

        key = jax.random.fold_in(jax.random.fold_in(self._key, epoch), index)
        return self._augment(self._x, self._y, jax.device_put(chosen.astype(np.int32)), key)

    def _copy(self, **changes) -> DeviceFeed:
        options = {**self._options(), **changes}
        options.pop("seed")
        return DeviceFeed(
            *self._source,
            pre=self.pre,
            classes=self.classes,
            batch_size=self.batch_size,
            seed=self.seed,
            crop_padding=self.crop_padding,
            flip=self.flip,
            _arrays=(self._x, self._y),
            **options,
        )

    def as_numpy_iterator(self):
        from keras import tree

        for batch in self:
            yield tree.map_structure(np.asarray, batch)

    def dataset(self, first_epoch: int = 0, epochs: int = 1, *, threads=None):
        """A generator of `epochs` epochs of device batches from `first_epoch` on."""
        for epoch in range(first_epoch, first_epoch + max(epochs, 1)):
            for index in range(self.steps):
                yield self.batch(epoch, index)


def _augment(x_all, y_all, chosen, key, *, size, padding, flip, cropped, mean, std, bgr, classes):
    """One batch on the device: gathered, cropped from `load_size` (`cropped`), padded and
    cropped back (`padding`), flipped, normalized, one-hot: `kerascnn.data.feed.Augmenter`'s
    steps for these keys."""
    import jax
    import jax.numpy as jnp

    x = jnp.take(x_all, chosen, axis=0).astype(jnp.float32)
    n = x.shape[0]
    crop_key, pad_key, flip_key = jax.random.split(key, 3)

    def crops(images, key):
        height, width = images.shape[1:3]
        down, across = jax.random.split(key)
        top = jax.random.randint(down, (n,), 0, height - size[0] + 1)
        left = jax.random.randint(across, (n,), 0, width - size[1] + 1)
        return jax.vmap(
            lambda image, t, left_: jax.lax.dynamic_slice(
                image, (t, left_, 0), (size[0], size[1], image.shape[-1])
            )
        )(images, top, left)

    if cropped:
        x = crops(x, crop_key)
    if padding:
        x = crops(jnp.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0))), pad_key)
    if flip:
        mirror = jax.random.uniform(flip_key, (n, 1, 1, 1)) < 0.5
        x = jnp.where(mirror, x[:, :, ::-1], x)
    if bgr:
        x = x[..., ::-1]
    x = (x - jnp.asarray(mean, jnp.float32)) / jnp.asarray(std, jnp.float32)
    y = jax.nn.one_hot(jnp.take(y_all, chosen, axis=0), classes, dtype=jnp.float32)
    return x, y
