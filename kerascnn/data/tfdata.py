"""The tf.data input path: a recipe's splits as batched tf.data datasets, the training split's
epochs each a function of (seed, epoch) so that a resumed run trains on the batches it would have."""

from __future__ import annotations

from kerascnn.data.augment import TABLE, Setting, asked
from kerascnn.data.augment_tf import one_per_batch
from kerascnn.data.feed import batches_of

__all__ = ["datasets", "mixer", "shaped_sample"]


def datasets(recipe, splits, pre, *, seed, outputs, drop_remainder, centre_crop) -> dict:
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

    d = recipe.data
    each_image, each_batch = _augmentations(recipe.augment, pre, seed, finish)

    def numbered(ds):  # each element with its place in the epoch
        return tf.data.Dataset.zip(ds, tf.data.Dataset.counter())

    def epoch(number):
        _unseeded_graph()
        key = tf.stack([tf.constant(seed, tf.int64), tf.cast(number, tf.int64)])
        order, crops, batches = tf.unstack(tf.random.experimental.stateless_split(key, 3), num=3)
        shuffle_seed = tf.random.stateless_uniform((), order, None, None, dtype=tf.int64)
        made = ds.shuffle(d.shuffle_buffer, seed=shuffle_seed)
        if each_image is not None:  # a crop of its own size for each image: one at a time

            def image(xy, place):
                return each_image(*xy, tf.random.experimental.stateless_fold_in(crops, place))

            made = numbered(made).map(image, num_parallel_calls=tf.data.AUTOTUNE)
        made = made.batch(d.batch_size, drop_remainder=drop_remainder)
        if each_batch is not None:
            made = numbered(made).map(
                lambda xy, b: each_batch(*xy, tf.random.experimental.stateless_fold_in(batches, b)),
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


def _augmentations(augment, pre, seed, finish):
    """The training augmentations the recipe asks for (`kerascnn.data.augment.TABLE`, their tf.data
    operations) as `(each_image, each_batch)`: `each_image(image, label, seed)` for the rows of
    stage "image" (None: none asked), `each_batch(images, labels, seed)` for the others, `finish`
    (normalization, one-hot) between the raw rows and the mixing ones (None: none asked). A seed
    is split in one per row of the table of that stage (the mixing rows share one), asked or not:
    each row draws the same numbers whatever else is asked."""

    setting = Setting.of(augment, pre, seed)
    slots = {stage: [row for row in TABLE if row.stage == stage] for stage in ("image", "batch")}
    image_steps, batch_steps = (
        [(slots[stage].index(row), row.tf_data(setting)) for row in asked(setting, stage)]
        for stage in ("image", "batch")
    )
    mix = mixer(augment, seed)

    def each_image(image, label, seed):
        seeds = _split(seed, len(slots["image"]))
        for slot, step in image_steps:
            image, label = step(image, label, seeds[slot])
        return image, label

    def each_batch(images, labels, seed):  # the whole batch at once: 1.7x the images/s
        seeds = _split(seed, len(slots["batch"]) + 1)
        for slot, step in batch_steps:
            images, labels = step(images, labels, seeds[slot])
        images, labels = finish(images, labels)
        if mix is not None:
            images, labels = mix(images, labels, seeds[-1])
        return images, labels

    return (
        each_image if image_steps else None,
        each_batch if batch_steps or mix is not None else None,
    )


def _split(seed, count: int) -> list:
    """`count` stateless seeds drawn from `seed` (`seed` itself when one is wanted)."""
    import tensorflow as tf

    if count == 1:
        return [seed]
    return tf.unstack(tf.random.experimental.stateless_split(seed, count), num=count)


def mixer(augment, seed: int):
    """The tf.data path's mixing of a batch, `mix(images, one-hot labels, seed) -> (images,
    labels)`: the mixing rows of the table the recipe asks for (MixUp, CutMix), one of them per
    batch; None when it asks for none."""

    setting = Setting(augment, seed=seed)
    return one_per_batch([row.tf_data(setting) for row in asked(setting, "mixed")])


def _passes(first: int):
    """A dataset of one number, `first` on its first pass, then `first + 1`, ...: what a training
    dataset's k-th pass (Keras' epoch `first + k`) is made from. (A variable counts the passes,
    not a Python generator: BENCHMARKS.md, "the tf.data path's epochs drawn from (seed, epoch)".)"""
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


def shaped_sample(part, shaping, count: int):
    """The first `count` images of a split (the source's order), shaped by `shaping`
    (`Preprocessing.shape`), as NumPy batches of up to 512."""
    import tensorflow as tf

    shaped = part.tf_dataset().map(
        lambda x, y: (shaping.shape(x), y), num_parallel_calls=tf.data.AUTOTUNE
    )
    return (images for images, _ in shaped.take(count).batch(512).as_numpy_iterator())
