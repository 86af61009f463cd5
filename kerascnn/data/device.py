"""The device input path: small images held on the accelerator and augmented there (JAX), so that
no host work stands between two training steps; after the "CIFAR-10 on the GPU in seconds" line of
work (Page 2018; Jordan, airbench, 2024).

The training split is copied to the device once (uint8 when its values are whole numbers 0-255);
each batch is gathered, augmented (the rows of `kerascnn.data.augment.TABLE` the recipe asks for,
their JAX operations), normalized and one-hot encoded there by one jitted function, its own call
before each step, and handed to `model.fit` as device arrays (Keras passes `jax.Array`s through
untouched). The order is the grain path's (`kerascnn.data.feed.Batches.order`), the draws JAX's from
a key folded with the epoch and the batch: a resumed run sees the very batches it would have seen.
What the host feed costs a small network, and what CIFAR takes on the device: BENCHMARKS.md, "GPU:
ResNet-50 bf16 training on one H100".

`data.on_device`: "auto" uses it on JAX with an accelerator when the source holds its images in
memory and every augmentation asked for has a JAX operation; true asks for it (also on a CPU: the
tests); a recipe it cannot feed is refused, saying why (`usable`).
"""

from __future__ import annotations

import numpy as np

from kerascnn.data.augment import TABLE, Setting, asked, refusal
from kerascnn.data.feed import Batches, ShapedPart

__all__ = ["DeviceFeed", "device_feed", "usable"]


def usable(recipe, part, pre, *, accelerator: bool) -> str | None:
    """Why the device feed cannot take this recipe's training split (None: it can)."""
    import keras

    if keras.backend.backend() != "jax":
        return "it runs on JAX"
    if recipe.train.distribution == "multi_worker":
        return "its processes read shares of each batch (the grain path does)"
    if getattr(part, "images", None) is None:
        return "its images are not held in memory (digits, synthetic, glyphs)"
    why = refusal("jax", Setting.of(recipe.augment, pre, recipe.train.seed))
    if why is not None:
        return why
    if recipe.data.on_device == "auto" and not accelerator:
        return "there is no accelerator"
    return None


def device_feed(recipe, part, pre, classes: int, seed: int, drop_remainder: bool):
    """A `DeviceFeed` of the training split where it applies (see `data.on_device`), else None;
    asked for by `on_device = true` where it cannot, one line says why."""
    import keras

    if recipe.data.on_device is False:
        return None
    from kerascnn.backend.devices import accelerators  # keeps kerascnn.data free of Keras

    accelerator = keras.backend.backend() == "jax" and bool(accelerators())
    why = usable(recipe, part, pre, accelerator=accelerator)
    if why is not None:
        if recipe.data.on_device is True:
            raise recipe.error(
                ("data", "on_device"),
                f"the training images cannot be held and augmented on the device: {why}.",
            )
        return None

    images, labels = ShapedPart(part, pre, cache=False).read(np.arange(len(part)))
    return DeviceFeed(
        images,
        labels,
        pre=pre,
        classes=classes,
        batch_size=recipe.data.batch_size,
        seed=seed,
        augment=recipe.augment,
        drop_remainder=drop_remainder,
    )


class DeviceFeed(Batches):
    """The training split's batches, made on the device (see the module docstring): what
    `kerascnn.data.feed.Batches` gives the trainer, each batch a JAX array.

    Args:
        images, labels: the training split, at `load_size` (float32 0-255) and as class indices.
        pre: how the images are fed (`kerascnn.data.Preprocessing`).
        augment: the recipe's `[data.augment]`; its rows must all have a JAX operation
            (`kerascnn.data.augment.refusal`); None: no augmentation.
    """

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
        augment=None,
        _arrays=None,
        **options,
    ):
        import jax

        super().__init__(len(labels), batch_size, seed=seed, **options)
        self.pre, self.classes, self.augment = pre, classes, augment
        self._source = (images, labels)
        if _arrays is None:
            whole = np.all(images == np.round(images)) and images.min() >= 0 and images.max() <= 255
            _arrays = (
                jax.device_put(images.astype(np.uint8 if whole else np.float32)),
                jax.device_put(np.asarray(labels, np.int32)),
            )
        self._x, self._y = _arrays
        self._key = jax.random.key(seed)
        self._augment = jax.jit(_batch_maker(pre, classes, augment, seed))

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
            augment=self.augment,
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


def _batch_maker(pre, classes: int, augment, seed: int):
    """`batch(x_all, y_all, chosen, key) -> (x, y)`, one batch on the device: the images `chosen`
    gathered, the augmentations asked for applied (`kerascnn.data.augment.TABLE`, their JAX
    operations, each row its own key of `key`, split once per row that has one), normalized and
    one-hot: `kerascnn.data.feed.Augmenter`'s steps, traced into one function."""

    slots = [row for row in TABLE if row.jax is not None]
    steps = []
    if augment is not None:
        setting = Setting.of(augment, pre, seed)
        why = refusal("jax", setting)
        if why is not None:
            raise ValueError(f"the device feed cannot augment as asked: {why}. Received: {augment}.")
        steps = [(slots.index(row), row.jax(setting)) for row in asked(setting)]
    mean, std, bgr = tuple(pre.mean), tuple(pre.std), bool(pre.bgr)

    def batch(x_all, y_all, chosen, key):
        import jax
        import jax.numpy as jnp

        x = jnp.take(x_all, chosen, axis=0).astype(jnp.float32)
        y = jnp.take(y_all, chosen, axis=0)
        keys = jax.random.split(key, len(slots))
        for slot, step in steps:
            x, y = step(x, y, keys[slot])
        if bgr:
            x = x[..., ::-1]
        x = (x - jnp.asarray(mean, jnp.float32)) / jnp.asarray(std, jnp.float32)
        return x, jax.nn.one_hot(y, classes, dtype=jnp.float32)

    return batch
