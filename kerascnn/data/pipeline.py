"""The input pipeline of a recipe: resize, batch, augment (training only), normalize, one-hot.

`load_data(recipe)` returns batched datasets ready for `model.fit` and the facts the run reports and
saves: tf.data datasets on the tf.data path (here), `kerascnn.data.feed.Feed`s on the grain path
(no TensorFlow; the default off the TensorFlow backend, `kerascnn.data.choice`). What turns a raw
image into the network's input is one `Preprocessing` record (size, resize
method, channels, mean and std), kept in the run directory's `data.json`, so that evaluation and
prediction repeat exactly what validation did during training.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np

from kerascnn.data.mixing import mixer, randaugment
from kerascnn.data.resize import fit_size
from kerascnn.data.sources import load_source, split_counts
from kerascnn.recipe import Recipe

IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)  # keras.applications.imagenet_utils, mode "caffe"
STATS_SAMPLE = 10_000  # images used to estimate the training set's mean and std


@dataclass(frozen=True)
class Preprocessing:
    """Raw image (HxWxC, values 0-255) -> network input, as in evaluation.

    Attributes:
        input_shape: the network's (height, width, channels).
        load_size: the size images are first brought to; the centre `input_shape[:2]` is then
            cropped (equal to the input size when there is no crop).
        resize: "stretch" (to `load_size` exactly), "pad" (centred on black, or centre-cropped) or
            "shorter" (the shorter side to `load_size`, the aspect kept, the centre cropped: timm's
            and torchvision's evaluation resize).
        interpolation: "bilinear" or "bicubic", for "stretch" and "shorter".
        mean, std: per channel, subtracted and divided after the crop (in BGR order with `bgr`).
        bgr: reverse the channels to BGR first (the Caffe convention of keras.applications' VGG
            and ResNet weights).
    """

    input_shape: tuple[int, int, int]
    load_size: tuple[int, int]
    resize: str
    mean: tuple[float, ...]
    std: tuple[float, ...]
    bgr: bool = False
    interpolation: str = "bilinear"

    @classmethod
    def from_dict(cls, facts: dict) -> Preprocessing:
        shape = tuple(int(v) for v in facts["input_shape"])
        return cls(
            input_shape=shape,
            load_size=tuple(int(v) for v in facts.get("load_size", shape[:2])),
            resize=str(facts.get("resize", "stretch")),
            mean=tuple(float(v) for v in facts["mean"]),
            std=tuple(float(v) for v in facts["std"]),
            bgr=bool(facts.get("bgr", False)),
            interpolation=str(facts.get("interpolation", "bilinear")),
        )

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def shape(self, image):
        """Channels converted and brought to `load_size` (what training caches and augments); a
        NumPy image is shaped in NumPy (`kerascnn.data.images`, TensorFlow's numbers)."""
        channels = self.input_shape[2]
        if isinstance(image, np.ndarray):
            from kerascnn.data import images

            image = image.astype(np.float32)
            if image.shape[-1] != channels:
                image = images.grey_to_rgb(image) if channels == 3 else images.rgb_to_grey(image)
            return images.fit_size(image, self.load_size, self.resize, self.interpolation)
        import tensorflow as tf

        if image.shape[-1] != channels:
            image = (
                tf.image.grayscale_to_rgb(image) if channels == 3 else tf.image.rgb_to_grayscale(image)
            )
        image = fit_size(image, self.load_size, self.resize, self.interpolation)
        return tf.ensure_shape(image, (*self.load_size, channels))

    def centre(self, image):
        h, w = self.input_shape[:2]
        if tuple(self.load_size) == (h, w):
            return image
        if isinstance(image, np.ndarray):
            from kerascnn.data.images import crop_or_pad

            return crop_or_pad(image, h, w)
        import tensorflow as tf

        return tf.image.resize_with_crop_or_pad(image, h, w)

    def normalize(self, image):
        if self.bgr:
            image = image[..., ::-1]
        if isinstance(image, np.ndarray):
            return (
                (image - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)
            ).astype(np.float32)
        import tensorflow as tf

        return (image - tf.constant(self.mean, "float32")) / tf.constant(self.std, "float32")

    def __call__(self, image):
        """The evaluation path for one image: shape, centre crop, normalize (a NumPy image in
        NumPy, a tensor in TensorFlow)."""
        if isinstance(image, np.ndarray):
            return self.normalize(self.centre(self.shape(image)))
        import tensorflow as tf

        return self.normalize(self.centre(self.shape(tf.cast(image, "float32"))))


FEW = 5  # fewer training images of a class than this: the run warns


@dataclass
class Data:
    train: object
    val: object | None
    test: object | None
    sizes: dict
    classes: int
    class_names: list[str]
    preprocessing: Preprocessing
    description: str
    steps_per_epoch: int | None = None
    skipped: dict[str, str] = field(default_factory=dict)  # unreadable images left out: path -> why
    train_counts: list[int] | None = None  # training images per class, where the source knows
    counts: dict[str, list[int]] = field(default_factory=dict)  # per split, where known unread
    pipeline: str = "tf.data"  # or "grain": the datasets are `kerascnn.data.feed.Feed`s
    on_device: bool = False  # training batches made on the accelerator (`kerascnn.data.device`)
    train_epochs: Callable[[int], object] | None = None  # tf.data: see `train_from`

    def train_from(self, first: int):
        """The training batches for `model.fit(..., initial_epoch=first)`: on the tf.data path a
        dataset whose k-th pass is epoch `first + k` (`train` is `train_from(0)`), so a resumed run
        trains on the batches the run never stopped would have; a grain `Feed` as it is (it is
        given its first epoch by `kerascnn.data.feed.for_keras`)."""
        return self.train if self.train_epochs is None else self.train_epochs(first)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.preprocessing.input_shape

    def describe_classes(self) -> list[str]:
        """Lines for a run's log: the training images of each class (all of them up to 20
        classes; the range, median and fewest beyond), and a warning naming each class with fewer
        than `FEW` (one that few images cannot teach, nor its validation and test splits measure)."""
        counts = self.train_counts
        if not counts:
            return []
        named = list(zip(self.class_names, counts))
        if len(named) <= 20:
            each = ", ".join(f"{name} {count:,}" for name, count in named)
        else:
            fewest = sorted(named, key=lambda item: item[1])[:3]
            each = (
                f"{min(counts):,} to {max(counts):,} (median {int(np.median(counts)):,}); "
                f"fewest: " + ", ".join(f"{name} {count:,}" for name, count in fewest)
            )
        lines = [f"training images per class: {each}"]
        few = [(name, count) for name, count in named if count < FEW]
        if few:
            listed = ", ".join(f"{name!r} {count}" for name, count in few[:10])
            more = f" and {len(few) - 10} more" if len(few) > 10 else ""
            lines.append(
                f"warning: {len(few)} class{'es have' if len(few) > 1 else ' has'} fewer "
                f"than {FEW} training images ({listed}{more}): too few to learn a class "
                f"from, or to measure it on; add images of "
                f"{'them' if len(few) > 1 else 'it'}"
            )
        return lines

    def to_dict(self) -> dict:
        """What a run directory keeps (`data.json`) to feed evaluation and prediction the same way."""
        return {
            "description": self.description,
            "sizes": self.sizes,
            "classes": self.classes,
            "class_names": self.class_names,
            **({"counts": self.counts} if self.counts else {}),
            **self.preprocessing.to_dict(),
        }


def load_data(
    recipe: Recipe,
    *,
    outputs: int = 1,
    seed: int | None = None,
    normalization: Preprocessing | None = None,
    drop_remainder: bool = False,
    centre_crop: bool = True,
) -> Data:
    """The recipe's data as batches of `(normalized image, one-hot label)`: `tf.data` datasets,
    or `kerascnn.data.feed.Feed`s on the grain path (`data.pipeline`, `kerascnn.data.choice`).

    Args:
        outputs: the model's number of outputs (GoogLeNet with auxiliary heads: 3); labels are
            repeated for each.
        normalization: normalize as this record does (its mean, std and channel order) instead
            of as the recipe's `normalize` says: a trained model fed other data (evaluation,
            fine-tuning) sees it as it saw its training images.
        drop_remainder: drop each split's last, smaller batch (several processes must run equal
            batches in step).
        centre_crop: False: the validation and test images stay at `load_size`, uncropped (the
            test-time protocols of `kerascnn.evaluate` take their own crops).
    """
    from kerascnn.config import ConfigError
    from kerascnn.data.choice import pipeline

    d = recipe.data
    try:
        path = pipeline(d.pipeline)
    except ConfigError as e:
        raise recipe.error(("data", "pipeline"), e.message, hint=e.hint) from None
    seed = recipe.train.seed if seed is None else seed
    splits = load_source(recipe, seed if d.seed is None else d.seed, path)  # the data's own seed
    h, w = d.image_size or splits.image_shape[:2]
    if h is None or w is None:
        raise recipe.error(
            ("data", "image_size"),
            f"the images of {splits.description} vary in size; set image_size = [height, width].",
        )
    channels = d.channels or splits.image_shape[2]
    load_size = tuple(d.load_size or (h, w))
    shaping = Preprocessing(
        (int(h), int(w), int(channels)), load_size, d.resize, (), (), interpolation=d.interpolation
    )
    if normalization is not None:
        mean, std, bgr = normalization.mean, normalization.std, normalization.bgr
        if len(mean) != channels or len(std) != channels:
            raise ValueError(
                f"normalization must give {channels} means and stds. Received: "
                f"mean {list(mean)}, std {list(std)}."
            )
    else:
        mean, std = _statistics(d.normalize, splits.train, shaping, path)
        bgr = d.normalize == "caffe" and channels == 3
    pre = Preprocessing(
        shaping.input_shape, load_size, d.resize, tuple(mean), tuple(std), bgr, d.interpolation
    )
    make = _feeds if path == "grain" else _tf_datasets
    sets = make(
        recipe,
        splits,
        pre,
        seed=seed,
        outputs=outputs,
        drop_remainder=drop_remainder,
        centre_crop=centre_crop,
    )
    train_size = splits.sizes.get("train")
    return Data(
        train=sets["train"],
        val=sets["val"],
        test=sets["test"],
        sizes=splits.sizes,
        classes=splits.classes,
        class_names=splits.class_names,
        preprocessing=pre,
        description=splits.description,
        skipped=splits.skipped,
        train_counts=splits.train_counts,
        counts=split_counts(splits),
        steps_per_epoch=None
        if train_size is None
        else batches_of(train_size, d.batch_size, drop_remainder),
        pipeline=path,
        on_device=getattr(sets["train"], "on_device", False),
        train_epochs=sets.get("train_epochs"),
    )


def _feeds(recipe, splits, pre, *, seed, outputs, drop_remainder, centre_crop) -> dict:
    """The grain path's batches: `kerascnn.data.feed`."""
    from kerascnn.data.feed import Augmenter, Feed, ShapedPart

    d = recipe.data
    shard = (0, 1)
    if recipe.train.distribution == "multi_worker":  # each process its share of every batch
        import jax

        shard = (jax.process_index(), jax.process_count())

    def feed(part, training):
        if part is None:
            return None
        if training and d.on_device is not False:
            fed = _device_feed(recipe, part, pre, splits.classes, seed, drop_remainder)
            if fed is not None:
                return fed if outputs == 1 else fed.map(lambda x, y: (x, tuple([y] * outputs)))
        part = ShapedPart(part, pre, cache=d.cache)
        make = Augmenter(
            pre=pre,
            classes=splits.classes,
            augment=recipe.augment,
            training=training,
            seed=seed,
            centre_crop=centre_crop,
        )
        fed = Feed(
            part,
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


def _device_feed(recipe, part, pre, classes, seed, drop_remainder):
    """`kerascnn.data.device.DeviceFeed` for the training split where it applies (see
    `data.on_device`); asked for by `on_device = true` where it cannot, one line says why."""
    import keras

    from kerascnn.data.device import DeviceFeed, usable

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


def _tf_datasets(recipe, splits, pre, *, seed, outputs, drop_remainder, centre_crop) -> dict:
    """The tf.data path's batches: the training split as `epochs_from(first)`, a dataset whose k-th
    pass is epoch `first + k` (`_training_epochs`); validation and test as plain datasets."""
    import tensorflow as tf

    d = recipe.data
    shaped = {
        k: None
        if part is None
        else part.tf_dataset().map(lambda x, y: (pre.shape(x), y), num_parallel_calls=tf.data.AUTOTUNE)
        for k, part in (("train", splits.train), ("val", splits.val), ("test", splits.test))
    }
    # Autotuning off: AUTOTUNE parallelism is then one thread per core, and prefetch buffers still
    # grow while the model waits (tf.data's prefetch autotuner, separate from the model-based one).
    options = tf.data.Options()
    options.autotune.enabled = d.autotune

    def finish(image, label):
        return pre.normalize(image), tf.one_hot(label, splits.classes)

    def each_output(image, y):  # GoogLeNet's auxiliary heads: the labels once per output
        return image, tuple([y] * outputs)

    def evaluation(ds):
        if d.cache:
            ds = ds.cache()
        if tuple(pre.load_size) != tuple(pre.input_shape[:2]) and centre_crop:
            ds = ds.map(lambda x, y: (pre.centre(x), y), num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.batch(d.batch_size, drop_remainder=drop_remainder).map(
            finish, num_parallel_calls=tf.data.AUTOTUNE
        )
        if outputs > 1:
            ds = ds.map(each_output, num_parallel_calls=tf.data.AUTOTUNE)
        return ds.prefetch(tf.data.AUTOTUNE).with_options(options)

    epochs_from = _training_epochs(
        shaped["train"],
        recipe,
        pre,
        seed=seed,
        finish=finish,
        each_output=each_output if outputs > 1 else None,
        drop_remainder=drop_remainder,
        options=options,
    )
    return {
        "train": epochs_from(0),
        "train_epochs": epochs_from,
        "val": None if shaped["val"] is None else evaluation(shaped["val"]),
        "test": None if shaped["test"] is None else evaluation(shaped["test"]),
    }


def _training_epochs(ds, recipe, pre, *, seed, finish, each_output, drop_remainder, options):
    """The training split's batches as `epochs_from(first)`: a dataset whose k-th pass is epoch
    `first + k`, each epoch's order, crops and batch augmentation drawn statelessly from (seed,
    epoch, place), so that an epoch is the same whenever it is made: in a run never stopped, and
    in one resumed at it."""
    import tensorflow as tf

    d, aug = recipe.data, recipe.augment
    h, w = pre.input_shape[:2]
    cropped = tuple(pre.load_size) != (h, w)
    drawn = bool(aug.crop_padding or aug.flip or (cropped and aug.scale is None))
    rand_augment, mix = randaugment(aug, seed), mixer(aug, seed)

    def augment(images, labels, seed):  # the whole batch at once: 1.7x the images/s
        crop, pad, flips, rand, mixing = tf.unstack(
            tf.random.experimental.stateless_split(seed, 5), num=5
        )
        if cropped and aug.scale is None:
            images = random_crops(images, (h, w), crop)
        if aug.crop_padding:
            images = random_crops(images, (h, w), pad, padding=aug.crop_padding)
        if aug.flip:
            images = random_flips(images, flips)
        if rand_augment is not None:
            images = rand_augment(images, rand)
        images, labels = finish(images, labels)
        if mix is not None:
            images, labels = mix(images, labels, mixing)
        return images, labels

    def numbered(ds):  # each element with its place in the epoch
        return tf.data.Dataset.zip(ds, tf.data.Dataset.counter())

    def epoch(number):
        _unseeded_graph()
        key = tf.stack([tf.constant(seed, tf.int64), tf.cast(number, tf.int64)])
        order, crops, batches = tf.unstack(tf.random.experimental.stateless_split(key, 3), num=3)
        shuffle_seed = tf.random.stateless_uniform((), order, None, None, dtype=tf.int64)
        made = ds.shuffle(d.shuffle_buffer, seed=shuffle_seed)
        if aug.scale is not None:  # a crop of its own size for each image: one at a time

            def resized_crop(xy, place):
                seed = tf.random.experimental.stateless_fold_in(crops, place)
                return _random_resized_crop(xy[0], aug.scale, aug.ratio, (h, w), seed), xy[1]

            made = numbered(made).map(resized_crop, num_parallel_calls=tf.data.AUTOTUNE)
        made = made.batch(d.batch_size, drop_remainder=drop_remainder)
        if drawn or rand_augment is not None or mix is not None:
            made = numbered(made).map(
                lambda xy, b: augment(*xy, tf.random.experimental.stateless_fold_in(batches, b)),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
        else:
            made = made.map(finish, num_parallel_calls=tf.data.AUTOTUNE)
        return made if each_output is None else made.map(each_output)

    if d.cache:
        ds = ds.cache()  # once, before the epochs: each epoch reads the same cache
    count = int(ds.cardinality())
    steps = batches_of(count, d.batch_size, drop_remainder) if count >= 0 else None

    def epochs_from(first: int = 0):
        batches = _passes(first).flat_map(epoch)
        if steps is not None:  # Keras' progress bar counts an epoch's batches
            batches = batches.apply(tf.data.experimental.assert_cardinality(steps))
        return batches.prefetch(tf.data.AUTOTUNE).with_options(options)

    return epochs_from


def batches_of(images: int, batch_size: int, drop_remainder: bool) -> int:
    """The batches `images` make: the last smaller one counted unless it is dropped."""
    return images // batch_size if drop_remainder else -(-images // batch_size)


def _passes(first: int):
    """A dataset of one number, `first` on its first pass, then `first + 1`, ...: what a training
    dataset's k-th pass (Keras' epoch `first + k`) is made from. (A variable counts the passes: a
    Python generator's pass costs 25 ms more.)"""
    import tensorflow as tf

    number = tf.Variable(first - 1, dtype=tf.int64, trainable=False, name="epoch")
    return tf.data.Dataset.range(1).map(lambda _: number.assign_add(1))


def _unseeded_graph():
    """Inside a tf.data function: a dataset's seed from a tensor there does not depend on the global
    seed, and works with every global seed (TensorFlow's `random_seed.get_seed` compares the pair
    (global seed, tensor) with (0, 0) in Python, which fails on a tensor when the global seed is 0:
    `tf.random.set_seed(0)`, a recipe's `seed = 0`)."""
    import tensorflow as tf

    tf.compat.v1.get_default_graph().seed = None


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


def fixed_statistics(kind: str, channels: int) -> tuple[list[float], list[float]]:
    """Mean and std per channel of the normalizations that need no data: "none", "unit",
    "imagenet", "caffe" (in BGR order), "tf"."""
    if kind == "caffe":
        mean = list(CAFFE_MEAN_BGR) if channels == 3 else [float(np.mean(CAFFE_MEAN_BGR))]
        return mean, [1.0] * channels
    if kind == "tf":
        return [127.5] * channels, [127.5] * channels
    if kind == "none":
        return [0.0] * channels, [1.0] * channels
    if kind == "unit":
        return [0.0] * channels, [255.0] * channels
    if kind == "imagenet":
        if channels == 1:
            return [float(np.mean(IMAGENET_MEAN))], [float(np.mean(IMAGENET_STD))]
        return list(IMAGENET_MEAN), list(IMAGENET_STD)


def _statistics(kind, train, shaping, path: str) -> tuple[list[float], list[float]]:
    """The normalization's mean and std per channel; "standardize": of the first `STATS_SAMPLE`
    training images, shaped, in the source's order (the same images on either path)."""
    channels = shaping.input_shape[2]
    if kind != "standardize":
        return fixed_statistics(kind, channels)
    if path == "tf.data":
        import tensorflow as tf

        shaped = train.tf_dataset().map(
            lambda x, y: (shaping.shape(x), y), num_parallel_calls=tf.data.AUTOTUNE
        )
        batches = shaped.take(STATS_SAMPLE).batch(512).as_numpy_iterator()
    else:
        sample = min(len(train), STATS_SAMPLE)
        from kerascnn.data.feed import shape_images

        batches = (
            (shape_images(shaping, train.read(np.arange(start, min(start + 512, sample)))[0]), None)
            for start in range(0, sample, 512)
        )
    total = np.zeros(channels)
    squares = np.zeros(channels)
    count = 0
    for images, _ in batches:
        flat = images.reshape(-1, channels).astype("float64")
        total += flat.sum(0)
        squares += (flat**2).sum(0)
        count += flat.shape[0]
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 1e-12))
    return [float(m) for m in mean], [float(max(s, 1e-3)) for s in std]


def _random_resized_crop(image, scale, ratio, size, seed):
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
