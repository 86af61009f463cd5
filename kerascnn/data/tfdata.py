"""The tf.data input path: a recipe's splits as batched tf.data datasets, the training split's
epochs each a function of (seed, epoch) so that a resumed run trains on the batches it would have."""

from __future__ import annotations

from kerascnn.data.feed import batches_of
from kerascnn.data.mixing import mixer, randaugment

__all__ = ["datasets", "shaped_sample", "random_crops", "random_flips", "random_resized_crop"]


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
                return random_resized_crop(xy[0], aug.scale, aug.ratio, (h, w), seed), xy[1]

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


def shaped_sample(part, shaping, count: int):
    """The first `count` images of a split (the source's order), shaped by `shaping`
    (`Preprocessing.shape`), as NumPy batches of up to 512."""
    import tensorflow as tf

    shaped = part.tf_dataset().map(
        lambda x, y: (shaping.shape(x), y), num_parallel_calls=tf.data.AUTOTUNE
    )
    return (images for images, _ in shaped.take(count).batch(512).as_numpy_iterator())


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
