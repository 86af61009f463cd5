"""The grain input path: a recipe's splits as batches made in NumPy by grain's threads, without
TensorFlow, on any Keras backend.

A `Feed` is one split, batched. Batch `k` of epoch `e` is a pure function of (seed, e, k): the
epoch's order is a permutation drawn from (seed, e), each batch's augmentation (`Augmenter`: the rows
of `kerascnn.data.augment.TABLE` the recipe asks for, their NumPy operations) from (seed, e, k). So a
run killed in the middle resumes with the very batches it would have seen, and
`Feed.dataset(first_epoch, epochs)` is a `grain.MapDataset` of batch indices read ahead by grain's
threads (Pillow's decoding and NumPy's array work let go of the GIL): what `model.fit` takes on every
backend (keras#21494). How fast, against arrays, on sources held in memory (image folders are not
measured yet): BENCHMARKS.md, "the input paths on each backend".
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import numpy as np

from kerascnn.data.augment import Setting, asked
from kerascnn.data.augment_numpy import one_per_batch
from kerascnn.data.images import crop_or_pad

__all__ = [
    "Batches",
    "batches_of",
    "feeds",
    "shaped_sample",
    "Feed",
    "Augmenter",
    "ShapedPart",
    "shape_images",
    "Spec",
    "for_keras",
]


class Spec:
    """A leaf of `Feed.element_spec`: `shape` with None for the batch, a NumPy `dtype` (a class,
    not a tuple: `keras.tree` walks into tuples)."""

    def __init__(self, shape, dtype):
        self.shape, self.dtype = tuple(shape), np.dtype(dtype)

    def __repr__(self):
        return f"Spec(shape={self.shape}, dtype={self.dtype.name})"


def _threads() -> int:
    return max(2, min(8, os.cpu_count() or 2))


class Batches:
    """What both feeds share (`Feed` here, `kerascnn.data.device.DeviceFeed`): `size` images in
    `steps` batches an epoch, each epoch's order drawn from (seed, epoch), batch `index` of
    epoch `epoch` made by `_make(epoch, index, chosen)`, then `maps`; `map`, `take`, one epoch's
    iteration and the batches' `element_spec`. Subclasses give `_make`, `_copy` and `dataset`.

    Args:
        size: the split's images.
        batch_size: images per batch.
        seed: shuffle with this seed; None: the split's order.
        drop_remainder: leave out each epoch's last, smaller batch.
        shard: (this process, processes): each batch's share of this process (every process
            draws the same global batch and takes every `processes`-th image of it from its
            own index on), for `keras.distribution` across processes.
    """

    is_feed = True  # what `for_keras` gives `fit` through `dataset`
    on_device = False

    def __init__(
        self,
        size: int,
        batch_size: int,
        *,
        seed: int | None = None,
        drop_remainder: bool = False,
        maps: tuple = (),
        limit: int | None = None,
        shard: tuple[int, int] = (0, 1),
    ):
        self.size, self.batch_size = int(size), int(batch_size)
        self.seed, self.drop_remainder, self.maps = seed, drop_remainder, tuple(maps)
        self.limit, self.shard = limit, tuple(shard)
        self.steps = batches_of(self.size, self.batch_size, drop_remainder)
        if limit is not None:
            self.steps = min(self.steps, int(limit))
        self._orders: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()
        self._spec = None

    def __len__(self) -> int:
        return self.steps

    def order(self, epoch: int) -> np.ndarray:
        """The epoch's order of the split's images."""
        if self.seed is None:
            return np.arange(self.size)
        with self._lock:
            if epoch not in self._orders:
                if len(self._orders) > 2:
                    self._orders.pop(min(self._orders))
                self._orders[epoch] = np.random.default_rng([self.seed, epoch]).permutation(self.size)
            return self._orders[epoch]

    def batch(self, epoch: int, index: int):
        """Batch `index` of epoch `epoch`, as the network takes it."""
        start = index * self.batch_size
        chosen = self.order(epoch)[start : start + self.batch_size][self.shard[0] :: self.shard[1]]
        batch = self._make(epoch, index, chosen)
        for fn in self.maps:
            batch = fn(*batch)
        return batch

    def _make(self, epoch: int, index: int, chosen: np.ndarray):
        raise NotImplementedError

    def _options(self) -> dict:
        return {
            "seed": self.seed,
            "drop_remainder": self.drop_remainder,
            "maps": self.maps,
            "limit": self.limit,
            "shard": self.shard,
        }

    def _copy(self, **changes) -> Batches:
        raise NotImplementedError

    def map(self, fn: Callable) -> Batches:
        """The same batches, then `fn(x, y) -> (x, y)`."""
        return self._copy(maps=(*self.maps, fn))

    def take(self, count: int) -> Batches:
        """The first `count` batches."""
        return self._copy(limit=count if self.limit is None else min(self.limit, count))

    def __iter__(self):
        """One epoch's batches (the first epoch's order), in this thread."""
        for index in range(self.steps):
            yield self.batch(0, index)

    @property
    def element_spec(self):
        """The batches' structure as `Spec(shape with None batch, dtype)` leaves."""
        if self._spec is None:
            from keras import tree

            self._spec = tree.map_structure(
                lambda a: Spec((None, *np.shape(a)[1:]), a.dtype), self.batch(0, 0)
            )
        return self._spec


class Feed(Batches):
    """One split's batches, made on the host (see the module docstring and `Batches`).

    Args:
        part: the split (`kerascnn.data.sources.Part`).
        make: `(images, labels, rng) -> (x, y)`: a raw batch to the network's input; `rng` is
            None when the feed does not shuffle (evaluation order, no augmentation).
    """

    def __init__(self, part, batch_size: int, make: Callable, **options):
        super().__init__(len(part), batch_size, **options)
        self.part, self.make = part, make

    def _make(self, epoch, index, chosen):
        images, labels = self.part.read(chosen)
        rng = (
            None
            if self.seed is None
            else np.random.default_rng([self.seed, epoch, index, 1 + self.shard[0]])
        )  # each process its own draws
        return self.make(images, labels, rng)

    def _copy(self, **changes) -> Feed:
        return Feed(self.part, self.batch_size, self.make, **{**self._options(), **changes})

    def as_numpy_iterator(self):
        """One epoch's batches, read ahead by grain's threads."""
        return iter(self.dataset())

    def dataset(self, first_epoch: int = 0, epochs: int = 1, *, threads: int | None = None):
        """`epochs` epochs of batches from `first_epoch` on, read ahead by grain's threads."""
        import grain

        steps = self.steps

        def make(b):
            return self.batch(first_epoch + b // steps, b % steps)

        threads = threads or _threads()
        return (
            grain.MapDataset.range(max(epochs, 1) * steps)
            .map(make)
            .to_iter_dataset(grain.ReadOptions(num_threads=threads, prefetch_buffer_size=2 * threads))
        )


def batches_of(images: int, batch_size: int, drop_remainder: bool) -> int:
    """The batches `images` make: the last smaller one counted unless it is dropped."""
    return images // batch_size if drop_remainder else -(-images // batch_size)


def feeds(recipe, splits, pre, *, seed, outputs, drop_remainder, centre_crop, train=None) -> dict:
    """The grain path's batches of each split (`Feed`s); `train`: the training split's batches
    made elsewhere (`kerascnn.data.device.DeviceFeed`), used instead of a `Feed`."""
    d = recipe.data
    shard = (0, 1)
    if recipe.train.distribution == "multi_worker":  # each process its share of every batch
        import jax

        shard = (jax.process_index(), jax.process_count())

    def feed(part, training):
        if part is None:
            return None
        if training and train is not None:
            fed = train
        else:
            make = Augmenter(
                pre=pre,
                classes=splits.classes,
                augment=recipe.augment,
                training=training,
                seed=seed,
                centre_crop=centre_crop,
            )
            fed = Feed(
                ShapedPart(part, pre, cache=d.cache),
                d.batch_size,
                make,
                seed=seed if training else None,
                drop_remainder=drop_remainder,
                shard=shard,
            )
        return fed if outputs == 1 else fed.map(lambda x, y: (x, tuple([y] * outputs)))

    return {
        "train": feed(splits.train, True),
        "val": feed(splits.val, False),
        "test": feed(splits.test, False),
    }


def shaped_sample(part, shaping, count: int):
    """The first `count` images of a split (the source's order), shaped by `shaping`
    (`Preprocessing.shape`), as NumPy batches of up to 512."""
    sample = min(len(part), count)
    return (
        shape_images(shaping, part.read(np.arange(start, min(start + 512, sample)))[0])
        for start in range(0, sample, 512)
    )


def for_keras(dataset, first_epoch: int = 0, epochs: int = 1):
    """What `model.fit`/`evaluate` take for a split: a tf.data dataset as it is, a `Feed` as grain
    batches from `first_epoch` for `epochs` epochs; and the steps per epoch to give Keras
    (`steps_per_epoch`, `validation_steps`, `steps`; None: Keras counts them). Keras does not
    count a grain dataset's batches, and with the steps given it keeps one iterator across
    epochs: so a validation split too is given as all the epochs' batches, each epoch's in the
    same order."""
    if dataset is None or not getattr(dataset, "is_feed", False):
        return dataset, None
    return dataset.dataset(first_epoch, epochs), len(dataset)


class Augmenter:
    """A raw batch at `load_size` (float32 0-255) -> the network's input, training or not: in
    training, the augmentations the recipe asks for (`kerascnn.data.augment.TABLE`, their NumPy
    operations) drawn from the batch's generator in the table's order; else the centre crop."""

    def __init__(
        self, *, pre, classes: int, augment=None, training: bool, seed: int, centre_crop: bool = True
    ):

        self.pre, self.classes, self.centre_crop = pre, classes, centre_crop
        self.size = tuple(pre.input_shape[:2])
        self.cropped = tuple(pre.load_size) != self.size
        self.mean = np.asarray(pre.mean, np.float32)
        self.std = np.asarray(pre.std, np.float32)
        self.training = training and augment is not None
        setting = Setting.of(augment, pre, seed) if self.training else None
        rows = asked(setting) if self.training else []
        self.steps = [row.numpy(setting) for row in rows if row.stage != "mixed"]
        self.mix = one_per_batch([row.numpy(setting) for row in rows if row.stage == "mixed"])

    def __call__(self, images, labels, rng):
        images = self.shaped(images)
        if self.training:
            for step in self.steps:
                images, labels = step(images, labels, rng)
        elif self.cropped and self.centre_crop:
            images = crop_or_pad(images, *self.size)
        if self.pre.bgr:
            images = images[..., ::-1]
        x = (images - self.mean) / self.std
        y = np.eye(self.classes, dtype=np.float32)[labels]
        if self.mix is not None:
            x, y = self.mix(x, y, rng)
        return x.astype(np.float32), y.astype(np.float32)

    def shaped(self, images: np.ndarray) -> np.ndarray:
        """Channels and `load_size` as `Preprocessing.shape` makes them, the batch at once (a
        no-op when the source gives them already: folders are read at `load_size`, `ShapedPart`
        caches)."""
        load, channels = tuple(self.pre.load_size), self.pre.input_shape[2]
        if images.shape[1:3] == load and images.shape[3] == channels:
            return images
        return self.pre.shape(images)


class ShapedPart:
    """A part's images brought to the feed's `load_size` and channels, kept in memory after their
    first reading with `cache` (`data.cache`: tf.data's `cache()` after the same step)."""

    def __init__(self, part, pre, *, cache: bool):
        self.part, self.pre, self.labels = part, pre, part.labels
        self.shape = (*pre.load_size, pre.input_shape[2])
        self._images = None
        self._done = None
        self._lock = threading.Lock()
        # Arrays already at the size: in memory as they are (a cache would hold them twice).
        images = getattr(part, "images", None)
        self.cache = cache and not (images is not None and images.shape[1:] == self.shape)

    def __len__(self):
        return len(self.part)

    def read(self, indices):
        indices = np.asarray(indices)
        if not self.cache:
            images, labels = self.part.read(indices)
            return self._shaped(images), labels
        with self._lock:
            if self._images is None:
                self._images = np.empty((len(self.part), *self.shape), np.float32)
                self._labels = np.empty(len(self.part), np.int32)
                self._done = np.zeros(len(self.part), bool)
            missing = indices[~self._done[indices]]
        if len(missing):
            images, labels = self.part.read(missing)
            self._images[missing] = self._shaped(images)
            self._labels[missing] = labels
            self._done[missing] = True
        return self._images[indices], self._labels[indices]

    def _shaped(self, images):
        return shape_images(self.pre, images, self.shape)


def shape_images(pre, images, shape=None) -> np.ndarray:
    """`pre.shape` of a batch: at once when the images share a size, else one at a time (a list:
    a tensorflow-datasets split whose images vary)."""
    if isinstance(images, list):
        return np.stack([pre.shape(image) for image in images]).astype(np.float32)
    if shape is not None and images.shape[1:] == tuple(shape):
        return images
    return pre.shape(images)
