"""Labelled images for evaluation, brought to a size and neither cropped nor normalized (the
evaluation protocols crop and each model normalizes): a run's own recipe split, another recipe's,
or a folder with one sub-folder per class."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kerascnn.config import ConfigError, load_document
from kerascnn.data import Preprocessing, load_data
from kerascnn.data.choice import decoder
from kerascnn.data.feed import Feed
from kerascnn.data.folder import describe_bad, index_folder
from kerascnn.data.sources import FilesPart
from kerascnn.inference.trained import Trained
from kerascnn.recipe import load_recipe
from kerascnn.runs.rundir import RunDir


def raw_preprocessing(pre, size):
    """`pre`'s way of bringing images to a size (resize, interpolation, channels), to `size`,
    without a crop or a normalization."""
    channels = pre.input_shape[2]
    return Preprocessing(
        (int(size[0]), int(size[1]), channels),
        (int(size[0]), int(size[1])),
        pre.resize,
        (0.0,) * channels,
        (1.0,) * channels,
        False,
        pre.interpolation,
    )


def labelled_images(
    trained: Trained, data, split: str, batch_size: int, bad_images: str, size
) -> tuple[object, str, dict]:
    """`(images 0-255 at size, int labels)` batches, what the data is, and the files skipped."""
    raw = raw_preprocessing(trained.preprocessing, size)
    if data is not None and Path(data).is_dir():
        return _folder_dataset(trained, raw, Path(data), batch_size, bad_images)
    return _recipe_dataset(trained, raw, data, split, batch_size, bad_images)


def _recipe_dataset(trained: Trained, raw, data, split: str, batch_size: int, bad_images: str):
    if data is None:
        if trained.run_dir is None or not RunDir(trained.run_dir).recipe.is_file():
            raise ConfigError(
                f"{trained.model_path} has no run recipe to take data from; give "
                f"--data (a folder of labelled images or a recipe)."
            )
        recipe_path = RunDir(trained.run_dir).recipe
        source, _ = load_document(recipe_path)
        for key in ("distribution", "workers", "worker"):  # evaluation runs in this process
            source.get("train", {}).pop(key, None)
    else:
        recipe_path = source = Path(data)
        if not recipe_path.is_file():
            raise ConfigError(f"no image folder or recipe at {str(data)!r}.")
    overrides = [
        f"data.image_size={list(trained.preprocessing.input_shape[:2])}",
        f"data.load_size={list(raw.load_size)}",
        f'data.resize="{raw.resize}"',
        f'data.interpolation="{raw.interpolation}"',
        f"data.channels={raw.input_shape[2]}",
        f"data.batch_size={batch_size}",
        "data.cache=false",
        f'data.bad_images="{bad_images}"',
    ]
    try:
        recipe = load_recipe(source, overrides)
    except ConfigError as e:  # the run's recipe.yaml, changed since: said of that file
        if e.file is not None or e.origin is not None:
            raise
        raise ConfigError(e.message, path=e.path, file=str(recipe_path), hint=e.hint) from None
    loaded = load_data(recipe, normalization=raw, centre_crop=False)
    dataset = loaded.test if split == "test" else loaded.val
    if dataset is None:
        raise ConfigError(f"{recipe_path}: its data has no {split} split.")
    if loaded.classes != len(trained.class_names):
        raise ConfigError(
            f"{recipe_path}: its data has {loaded.classes} classes, the model "
            f"{len(trained.class_names)}."
        )
    labels = dataset.map(lambda x, y: (x, _argmax(y)))
    return labels, f"{loaded.description}, {split} split", loaded.skipped


def _argmax(y):
    if isinstance(y, np.ndarray):  # the grain path's batches
        return np.argmax(y, axis=-1).astype(np.int32)
    import tensorflow as tf

    return tf.argmax(y, axis=-1, output_type=tf.int32)


def _folder_dataset(trained: Trained, raw, folder: Path, batch_size: int, bad_images: str):
    """Labelled images in class sub-folders; each sub-folder must be one of the model's classes."""
    names = sorted(p.name for p in folder.iterdir() if p.is_dir())
    unknown = [n for n in names if n not in trained.class_names]
    if not names or unknown:
        raise ConfigError(
            f"{folder}: each sub-folder must be named after one of the model's "
            f"classes ({', '.join(trained.class_names[:20])}"
            f"{', ...' if len(trained.class_names) > 20 else ''}). "
            + (f"Unknown: {', '.join(unknown)}." if unknown else "Found no sub-folders.")
        )
    index = index_folder(folder, seed=None, shuffle=False, channels=raw.input_shape[2])
    if index.bad and bad_images == "error":
        raise ConfigError(
            f"{len(index.bad)} of the {index.total} image files in {str(folder)!r} "
            f"cannot be read: {describe_bad(index.bad, index.root)}.",
            hint="remove or replace them, or pass --bad-images skip "
            '(bad_images="skip") to evaluate without them.',
        )
    part = FilesPart(
        index.paths,
        index.labels,
        size=raw.load_size,
        channels=raw.input_shape[2],
        resize=raw.resize,
        interpolation=raw.interpolation,
    )
    table = np.asarray([trained.class_names.index(n) for n in names], "int32")
    if decoder() == "pillow":  # the grain path: no TensorFlow

        def make(images, labels, rng):
            return np.stack([raw(image) for image in images]), table[labels]

        return Feed(part, batch_size, make), f"image folder {folder}", index.bad
    import tensorflow as tf

    lookup = tf.constant(table)
    dataset = part.tf_dataset().map(
        lambda x, y: (raw(x), tf.gather(lookup, y)), num_parallel_calls=tf.data.AUTOTUNE
    )
    return (dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE), f"image folder {folder}", index.bad)
