"""Where images come from: each source returns its splits as `Part`s, a split's `(image, label)`
pairs with images as float32 in [0, 255], HxWxC, and labels as int32, plus what the pipeline needs
to know. A part is read either as an unbatched tf.data dataset (`Part.tf_dataset`, the tf.data path)
or a batch of indices at a time (`Part.read`, the grain path of `kerascnn.data.feed`, no
TensorFlow): the same images, classes and splits either way.

- digits: scikit-learn's 1,797 handwritten digits (8x8, 17 grey levels), real and offline;
- synthetic: a generated task (one fixed random pattern per class, shifted and noisy);
- glyphs: generated handwriting, an Omniglot in miniature (one fixed random glyph of strokes per class,
  drawn rotated, scaled, shifted, jittered and noisy), with as many classes as wanted: the source of
  transfer-learning experiments (pretrain on many glyphs, fine-tune on a few examples of new ones);
- folder: `keras.utils.image_dataset_from_directory` conventions, one sub-folder per class, every
  image checked once before training (`kerascnn.data.folder`: unreadable files named, or skipped);
- tfds: any tensorflow-datasets image classification set (`tfds.load`, with `data_dir` and splits;
  on the grain path `tfds.data_source`, which reads a prepared dataset without TensorFlow).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kerascnn.config import ConfigError, first_line
from kerascnn.data.folder import describe_bad, images_dataset, index_folder, readable_formats
from kerascnn.data.images import decode, fit_size, resize_with_pad
from kerascnn.recipe import Recipe


class Part:
    """One split of a source: `len(part)` images (None: not known before reading), `labels`
    (None: likewise), `read(indices)` -> (float32 images at the source's size, int32 labels) for
    the grain path, `tf_dataset()` -> unbatched tf.data (image, label) for the tf.data path."""

    labels = None

    def __len__(self):
        return len(self.labels)

    def read(self, indices) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def tf_dataset(self):
        raise NotImplementedError


class ArrayPart(Part):
    """Images held in memory: (N, H, W, C) float32 and (N,) int32."""

    def __init__(self, images, labels):
        self.images = np.asarray(images, "float32")
        self.labels = np.asarray(labels, "int32")

    def read(self, indices):
        return self.images[indices], self.labels[indices]

    def tf_dataset(self):
        import tensorflow as tf

        return tf.data.Dataset.from_tensor_slices((self.images, self.labels))


class FilesPart(Part):
    """Image files, decoded and brought to `size` as they are read (`kerascnn.data.folder`)."""

    def __init__(self, paths, labels, *, size, channels: int, resize: str, interpolation: str):
        self.paths, self.labels = list(paths), np.asarray(labels, "int32")
        self.size, self.channels = (int(size[0]), int(size[1])), int(channels)
        self.resize, self.interpolation = resize, interpolation

    def read(self, indices):

        images = np.empty((len(indices), *self.size, self.channels), "float32")
        for n, i in enumerate(indices):
            image = decode(self.paths[i], self.channels)
            if self.resize == "pad":  # Keras' loader: resized to fit, centred on black
                images[n] = resize_with_pad(image, *self.size)
            else:
                images[n] = fit_size(image, self.size, self.resize, self.interpolation)
        return images, self.labels[indices]

    def tf_dataset(self):

        return images_dataset(
            self.paths,
            self.labels,
            size=self.size,
            channels=self.channels,
            resize=self.resize,
            interpolation=self.interpolation,
        )

    def subset(self, keep: np.ndarray, labels: np.ndarray) -> FilesPart:
        return FilesPart(
            [self.paths[i] for i in keep],
            labels,
            size=self.size,
            channels=self.channels,
            resize=self.resize,
            interpolation=self.interpolation,
        )


class DatasetPart(Part):
    """A tensorflow-datasets split: a tf.data dataset (`tfds.load`) on the tf.data path, a random
    access source (`tfds.data_source`) on the grain path."""

    def __init__(self, dataset=None, source=None, size: int | None = None, keep=None, relabel=None):
        self.dataset, self.source, self.size = dataset, source, size
        self.keep, self.relabel = keep, relabel  # class_subset on the grain path

    def __len__(self):
        if self.keep is not None:
            return len(self.keep)
        return self.size if self.source is None else len(self.source)

    @property
    def labels(self):
        if self.source is None:
            return None
        if self.keep is not None:
            return self.relabel
        return None

    def read(self, indices):
        rows = self.keep[indices] if self.keep is not None else np.asarray(indices)
        examples = [self.source[int(i)] for i in rows]
        images = [_as_hwc(e["image"]).astype("float32") for e in examples]
        if len({image.shape for image in images}) == 1:  # else a list: shaped one at a time
            images = np.stack(images)
        labels = (
            self.relabel[indices]
            if self.keep is not None
            else np.asarray([e["label"] for e in examples], "int32")
        )
        return images, labels

    def tf_dataset(self):
        return self.dataset


def _as_hwc(image) -> np.ndarray:
    image = np.asarray(image)
    return image[..., None] if image.ndim == 2 else image


@dataclass
class Splits:
    """A source's parts and their sizes; `val`/`test` may be None."""

    train: Part
    val: Part | None
    test: Part | None
    sizes: dict
    classes: int
    class_names: list[str]
    image_shape: tuple[int, int, int]  # the source's own
    description: str
    skipped: dict[str, str] = field(default_factory=dict)  # unreadable files left out: path -> why
    train_counts: list[int] | None = None  # training images per class; None: not known unread


# What each source declares about its images before any is read (its own defaults; None: only the
# data can tell): their size, channels and classes. The sources use these; `declared_input` gives
# them to commands that build a recipe's model without its data (`kerascnn summary RECIPE`).
SOURCE_DEFAULTS = {
    "digits": {"image_size": (8, 8), "channels": 1, "classes": 10},
    "synthetic": {"image_size": (32, 32), "channels": 3, "classes": None},  # data.classes
    "glyphs": {"image_size": (32, 32), "channels": 1, "classes": None},  # data.classes
    "folder": {"image_size": (256, 256), "channels": 3, "classes": None},  # its sub-folders
    "tfds": {"image_size": None, "channels": None, "classes": None},  # the dataset's info
}


def declared_input(recipe: Recipe) -> tuple[tuple[int, int, int] | None, int | None]:
    """The network input and classes a recipe's data will give, from the recipe and its source's
    defaults alone (no data read): ((height, width, channels) or None, classes or None)."""
    d = recipe.data
    defaults = SOURCE_DEFAULTS[d.source]
    size = d.image_size or defaults["image_size"]
    channels = d.channels or defaults["channels"]
    classes = defaults["classes"]
    if d.source in ("synthetic", "glyphs"):
        classes = d.classes
    if d.class_subset:
        classes = len(d.class_subset)
    shape = (int(size[0]), int(size[1]), int(channels)) if size and channels else None
    return shape, classes


def load_source(recipe: Recipe, seed: int, pipeline: str = "tf.data") -> Splits:
    """The recipe's source, split; `pipeline` ("tf.data" or "grain") is the path that will read
    it (folders are checked with its decoder; tfds is loaded as it can read it)."""
    d = recipe.data
    if d.source == "folder":
        splits = _folder(recipe, d, seed, "tensorflow" if pipeline == "tf.data" else "pillow")
    elif d.source == "tfds":
        splits = (_tfds if pipeline == "tf.data" else _tfds_source)(recipe, d, seed)
    else:
        splits = {"digits": _digits, "synthetic": _synthetic, "glyphs": _glyphs}[d.source](
            recipe, d, seed
        )
    if d.class_subset and d.source in ("folder", "tfds"):
        splits = _keep_classes(recipe, splits, d.class_subset)
    return splits


def _split_arrays(
    recipe: Recipe, x, y, seed: int, what: str, names: list[str], subset: tuple[int, ...] = ()
) -> Splits:
    """Arrays -> stratified test, validation and training splits; `subset` keeps (and renumbers)
    some classes first, `train_per_class` then keeps that many training images of each."""
    from sklearn.model_selection import train_test_split

    d = recipe.data
    if subset:
        _check_subset(recipe, subset, len(names), what)
        keep = np.isin(y, subset)
        index = {c: i for i, c in enumerate(subset)}
        x, y = x[keep], np.array([index[int(c)] for c in y[keep]])
        names = [names[c] for c in subset]
        what += f", classes {_ranges(subset)}"
    parts = {}
    rest_x, rest_y = x, y
    if d.test_fraction > 0:
        rest_x, test_x, rest_y, test_y = train_test_split(
            x, y, test_size=d.test_fraction, random_state=seed, stratify=y
        )
        parts["test"] = (test_x, test_y)
    if d.validation_split > 0:
        rest_x, val_x, rest_y, val_y = train_test_split(
            rest_x, rest_y, test_size=d.validation_split, random_state=seed + 1, stratify=rest_y
        )
        parts["val"] = (val_x, val_y)
    if d.train_per_class:
        rng = np.random.default_rng(seed + 2)
        chosen = []
        for k in range(len(names)):
            members = np.flatnonzero(rest_y == k)
            if len(members) < d.train_per_class:
                raise recipe.error(
                    ("data", "train_per_class"),
                    f"class {names[k]!r} has "
                    f"{len(members)} training images, fewer than "
                    f"{d.train_per_class}.",
                )
            chosen.append(rng.choice(members, d.train_per_class, replace=False))
        order = rng.permutation(np.concatenate(chosen))
        rest_x, rest_y = rest_x[order], rest_y[order]
        what += f", {d.train_per_class} training images per class"
    parts["train"] = (rest_x, rest_y)
    sets = {k: ArrayPart(v[0], v[1]) for k, v in parts.items()}
    return Splits(
        train=sets["train"],
        val=sets.get("val"),
        test=sets.get("test"),
        sizes={k: len(v[1]) for k, v in parts.items()},
        classes=len(names),
        class_names=list(names),
        image_shape=tuple(x.shape[1:]),
        description=what,
        train_counts=_counts(parts["train"][1], len(names)),
    )


def split_counts(splits: Splits) -> dict[str, list[int]]:
    """Images per class of each split whose labels are known without reading it (arrays and image
    files; a tfds split read through tf.data is not counted): {"train": [...], "test": [...]}."""
    counts = {"train": splits.train_counts} if splits.train_counts else {}
    for name in ("val", "test"):
        labels = getattr(getattr(splits, name), "labels", None)
        if isinstance(labels, np.ndarray):
            counts[name] = _counts(labels, splits.classes)
    return counts


def _counts(labels, classes: int) -> list[int]:
    """Images per class of a split's labels."""
    return np.bincount(np.asarray(labels, "int64"), minlength=classes).tolist()


def _check_subset(recipe, subset, classes: int, what: str) -> None:
    wrong = [c for c in subset if not 0 <= c < classes]
    if wrong:
        raise recipe.error(
            ("data", "class_subset"),
            f"{what} has no class {wrong} (its classes are 0 to {classes - 1}).",
        )


def _ranges(values) -> str:
    """[0, 1, 2, 5] -> "0-2, 5"."""
    out, start = [], None
    for i, v in enumerate(values):
        if start is None:
            start = v
        if i + 1 == len(values) or values[i + 1] != v + 1:
            out.append(str(start) if start == v else f"{start}-{v}")
            start = None
    return ", ".join(out)


def _keep_classes(recipe, splits: Splits, subset) -> Splits:
    """A source with only `subset`'s classes, renumbered 0..k-1 in subset order (each split
    filtered after it is made: the same images whichever path reads them)."""
    _check_subset(recipe, subset, splits.classes, splits.description)
    table = np.full(splits.classes, -1, dtype="int32")
    table[list(subset)] = np.arange(len(subset), dtype="int32")

    def keep(part):
        if part is None:
            return None
        if isinstance(part, FilesPart) or (isinstance(part, DatasetPart) and part.source):
            labels = part.labels if isinstance(part, FilesPart) else _all_labels(part)
            kept = np.flatnonzero(table[labels] >= 0)
            if isinstance(part, FilesPart):
                return part.subset(kept, table[labels[kept]])
            return DatasetPart(source=part.source, keep=kept, relabel=table[labels[kept]])
        import tensorflow as tf

        lookup = tf.constant(table)
        return DatasetPart(
            dataset=part.tf_dataset()
            .map(lambda x, y: (x, tf.gather(lookup, y)))
            .filter(lambda x, y: y >= 0)
        )

    parts = {k: keep(getattr(splits, k)) for k in ("train", "val", "test")}
    sizes = {k: len(v) for k, v in parts.items() if v is not None and v.labels is not None}
    return Splits(
        train=parts["train"],
        val=parts["val"],
        test=parts["test"],
        sizes=sizes,
        classes=len(subset),  # tf.data's sizes: unknown until read
        class_names=[splits.class_names[c] for c in subset],
        image_shape=splits.image_shape,
        description=f"{splits.description}, classes {_ranges(list(subset))}",
        skipped=splits.skipped,
        train_counts=(
            _counts(parts["train"].labels, len(subset)) if parts["train"].labels is not None else None
        ),
    )


def _digits(recipe, d, seed):
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images * (255.0 / 16.0))[..., None]  # 8x8x1, 0..255
    return _split_arrays(
        recipe,
        x,
        digits.target,
        seed,
        "scikit-learn digits (8x8)",
        [str(i) for i in range(10)],
        d.class_subset,
    )


def synthetic_images(classes: int, samples: int, size=(32, 32), channels: int = 3, seed: int = 0):
    """One fixed random low-frequency pattern per class, randomly shifted, scaled and noised: a task
    a small CNN learns well above chance, and a linear model on pixels does not solve by rote."""
    rng = np.random.default_rng(seed)
    h, w = size
    coarse = rng.uniform(0, 1, (classes, 4, 4, channels))
    templates = np.kron(coarse, np.ones((1, (h + 7) // 4, (w + 7) // 4, 1)))[:, : h + 4, : w + 4]
    labels = rng.permutation(np.arange(samples) % classes)
    images = np.empty((samples, h, w, channels), dtype="float32")
    for i, k in enumerate(labels):
        dy, dx = rng.integers(0, 5, size=2)
        patch = templates[k, dy : dy + h, dx : dx + w] * rng.uniform(0.6, 1.0)
        images[i] = np.clip(255 * (patch + rng.normal(0, 0.25, patch.shape)), 0, 255)
    return images, labels


def glyph(index: int) -> np.ndarray:
    """Glyph `index` of the alphabet: four strokes, (4, 2 ends, (y, x)) in the unit square; three
    join into a path, one stands apart. The same glyph for the same index, whatever the seed."""
    rng = np.random.default_rng(1000 + index)
    points = rng.uniform(0.15, 0.85, (4, 2))
    path = np.stack([points[:-1], points[1:]], axis=1)
    return np.concatenate([path, rng.uniform(0.15, 0.85, (1, 2, 2))])


def glyph_images(glyphs, samples: int, size=(32, 32), seed: int = 0):
    """Handwritten-looking renderings of the glyphs `glyphs` (alphabet indices), labels 0..k-1.

    Each image draws its class's glyph rotated by up to 20 degrees, scaled by 0.7-1.1, shifted by
    up to a tenth of the image, every stroke end jittered, with a random pen width and Gaussian
    noise: white strokes on black, values 0-255, one channel.
    """
    rng = np.random.default_rng(seed)
    glyphs = list(glyphs)
    strokes = np.stack([glyph(g) for g in glyphs]) - 0.5
    labels = rng.permutation(np.arange(samples) % len(glyphs))
    h, w = size
    grid = np.stack(np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w), indexing="ij"), -1)
    pixels = grid.reshape(-1, 1, 2)
    images = np.empty((samples, h, w, 1), dtype="float32")
    for i, k in enumerate(labels):
        angle, scale = rng.uniform(-0.35, 0.35), rng.uniform(0.7, 1.1)
        turn = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        ends = strokes[k] @ turn.T + 0.5 + rng.uniform(-0.1, 0.1, 2)
        ends = ends + rng.normal(0, 0.02, ends.shape)
        start, direction = ends[:, 0], ends[:, 1] - ends[:, 0]
        t = np.clip(
            ((pixels - start) * direction).sum(-1) / np.maximum((direction**2).sum(-1), 1e-9), 0, 1
        )
        distance = np.linalg.norm(pixels - (start + t[..., None] * direction), axis=-1).min(1)
        ink = np.clip(1 - (distance - rng.uniform(0.025, 0.05)) * max(h, w) / 1.5, 0, 1)
        noisy = ink.reshape(h, w) + rng.normal(0, 0.15, (h, w))
        images[i, ..., 0] = 255 * np.clip(noisy, 0, 1)
    return images, labels


def _glyphs(recipe, d, seed):
    size = d.image_size or SOURCE_DEFAULTS["glyphs"]["image_size"]
    chosen = list(d.class_subset) if d.class_subset else list(range(d.classes))
    x, y = glyph_images(chosen, d.samples, size, seed=seed)
    what = f"glyphs {_ranges(chosen)}" if d.class_subset else f"glyphs ({d.classes} classes)"
    return _split_arrays(recipe, x, y, seed, what, [f"glyph{g}" for g in chosen])


def _synthetic(recipe, d, seed):
    size = d.image_size or SOURCE_DEFAULTS["synthetic"]["image_size"]
    channels = d.channels or SOURCE_DEFAULTS["synthetic"]["channels"]
    x, y = synthetic_images(d.classes, d.samples, size, channels, seed=seed)
    return _split_arrays(
        recipe,
        x,
        y,
        seed,
        f"synthetic patterns ({d.classes} classes)",
        [str(i) for i in range(d.classes)],
        d.class_subset,
    )


def _folder(recipe, d, seed, decoder: str):
    root = _resolve(recipe, d.path, "path")
    size = tuple(d.load_size or d.image_size or SOURCE_DEFAULTS["folder"]["image_size"])
    channels = 1 if d.channels == 1 else 3
    index = _indexed(recipe, "path", root, seed=seed, channels=channels, decoder=decoder)
    parts = index.split(d.validation_split)
    if parts[1] is not None and (not len(parts[1][0]) or not len(parts[0][0])):
        raise recipe.error(
            ("data", "validation_split"),
            (
                f"{len(index.paths)} images are too few to hold out {d.validation_split:g} of them "
                f"for validation."
            ),
        )
    names = index.class_names
    skipped = dict(index.bad)
    test, test_count = None, None
    if d.test_path:
        test_root = _resolve(recipe, d.test_path, "test_path")
        test_names = sorted(c.name for c in test_root.iterdir() if c.is_dir())
        if test_names != names:
            raise recipe.error(
                ("data", "test_path"),
                f"the test folder's classes {test_names} differ from the training folder's {names}.",
            )
        tested = _indexed(
            recipe, "test_path", test_root, seed=None, channels=channels, shuffle=False, decoder=decoder
        )
        skipped.update(tested.bad)
        test = FilesPart(
            tested.paths,
            tested.labels,
            size=size,
            channels=channels,
            resize=d.resize,
            interpolation=d.interpolation,
        )
        test_count = len(tested.paths)

    def dataset(part):
        return (
            None
            if part is None
            else FilesPart(
                part[0],
                part[1],
                size=size,
                channels=channels,
                resize=d.resize,
                interpolation=d.interpolation,
            )
        )

    sizes = {
        "train": len(parts[0][0]),
        "val": None if parts[1] is None else len(parts[1][0]),
        "test": test_count,
    }
    return Splits(
        train=dataset(parts[0]),
        val=dataset(parts[1]),
        test=test,
        sizes={k: v for k, v in sizes.items() if v is not None},
        classes=len(names),
        class_names=names,
        image_shape=(*size, channels),
        description=f"image folder {root}",
        skipped=skipped,
        train_counts=_counts(parts[0][1], len(names)),
    )


def _indexed(recipe, key: str, root: Path, **options):
    """The folder's images, checked once (`kerascnn.data.folder`): files that cannot be read stop
    the run here, listed, or with `data.bad_images = "skip"` are left out and reported."""

    index = index_folder(root, **options)
    if index.bad and recipe.data.bad_images == "error":
        many = len(index.bad) > 1
        raise recipe.error(
            ("data", key),
            (
                f"{len(index.bad)} of the {index.total} image files in {str(root)!r} "
                f"{'are' if many else 'is'} unreadable: {describe_bad(index.bad, root)}."
            ),
            hint='remove or replace them, or set data.bad_images = "skip" to train without '
            "them (the run names them in its log and metrics.json).",
        )
    if index.empty:
        many = len(index.empty) > 1
        raise recipe.error(
            ("data", key),
            (
                f"the class folder{'s' if many else ''} {', '.join(map(repr, index.empty))} of "
                f"{str(root)!r} hold{'' if many else 's'} no "
                f"{'readable ' if index.bad else ''}images "
                f"({', '.join(sorted(_formats()))})."
            ),
        )
    return index


def _formats():

    return readable_formats()


def _tfds(recipe, d, seed):
    import tensorflow_datasets as tfds

    splits = _tfds_splits(d)
    data_dir = str(Path(d.data_dir).expanduser()) if d.data_dir else None

    def load(download: bool):
        return tfds.load(
            d.name,
            split=splits,
            data_dir=data_dir,
            as_supervised=True,
            with_info=True,
            shuffle_files=True,
            download=download,
            read_config=tfds.ReadConfig(shuffle_seed=seed),
        )

    try:
        try:
            datasets, info = load(download=False)  # prepared: no network at all
        except Exception:  # noqa: BLE001  (not prepared, or not a dataset: checked next)
            _check_known_and_online(recipe, d.name, data_dir)
            datasets, info = load(download=True)
    except ConfigError:
        raise
    except Exception as e:  # noqa: BLE001  (unknown names, no internet, a missing manual download)
        raise recipe.error(
            ("data", "name"), f"tensorflow-datasets could not load {d.name!r}: {first_line(e)}"
        ) from None
    train = datasets[0]
    val = datasets[1] if d.validation_split > 0 else None
    test = datasets[-1] if d.test_split else None
    label = info.features["label"]
    image_shape = tuple(info.features["image"].shape)

    def count(split):
        try:
            return int(info.splits[split].num_examples)
        except (KeyError, ValueError):
            return None

    sizes = {
        "train": count(splits[0]),
        "val": count(splits[1]) if val is not None else None,
        "test": count(d.test_split) if test is not None else None,
    }

    def cast(image, y):
        import tensorflow as tf

        return tf.cast(image, "float32"), tf.cast(y, "int32")

    def part(ds, split):
        return None if ds is None else DatasetPart(dataset=ds.map(cast), size=count(split))

    return Splits(
        train=part(train, splits[0]),
        val=None if val is None else part(val, splits[1]),
        test=part(test, d.test_split),
        sizes={k: v for k, v in sizes.items() if v is not None},
        classes=int(label.num_classes),
        class_names=list(label.names),
        image_shape=image_shape,
        description=f"tfds {d.name}",
    )


def _tfds_splits(d) -> list[str]:
    splits = [d.train_split]
    if d.validation_split > 0:
        cut = round(100 * (1 - d.validation_split))
        splits = [f"{d.train_split}[:{cut}%]", f"{d.train_split}[{cut}%:]"]
    if d.test_split:
        splits.append(d.test_split)
    return splits


def _tfds_source(recipe, d, seed):
    """The grain path's tfds: `tfds.data_source` reads a prepared dataset (its ArrayRecord files)
    without TensorFlow; preparing one (downloading, converting) needs TensorFlow."""
    import tensorflow_datasets as tfds

    splits = _tfds_splits(d)
    data_dir = str(Path(d.data_dir).expanduser()) if d.data_dir else None
    try:
        builder = tfds.builder(d.name, data_dir=data_dir)
    except Exception as e:  # noqa: BLE001  (an unknown name: tfds lists the known ones)
        raise recipe.error(
            ("data", "name"), f"tensorflow-datasets has no dataset {d.name!r}: {first_line(e)}"
        ) from None
    try:  # no download: preparing a dataset needs TensorFlow
        sources = [tfds.data_source(d.name, split=s, data_dir=data_dir, download=False) for s in splits]
    except Exception as e:  # noqa: BLE001  (not prepared, prepared as TFRecord only, a bad split)
        raise recipe.error(
            ("data", "name"),
            (
                f"tensorflow-datasets cannot read {d.name!r} for the grain input path "
                f"({first_line(e)}): it reads datasets prepared as ArrayRecord files, and preparing "
                f"one needs TensorFlow."
            ),
            hint=f"prepare it where TensorFlow is installed (`tfds build {d.name} --data_dir DIR "
            f"--file_format array_record`) and set data.data_dir, or use data.pipeline = "
            f'"tf.data" there.',
        ) from None
    info = builder.info
    val = sources[1] if d.validation_split > 0 else None
    test = sources[-1] if d.test_split else None
    parts = {
        "train": DatasetPart(source=sources[0]),
        "val": None if val is None else DatasetPart(source=val),
        "test": None if test is None else DatasetPart(source=test),
    }
    label = info.features["label"]
    return Splits(
        train=parts["train"],
        val=parts["val"],
        test=parts["test"],
        sizes={k: len(v) for k, v in parts.items() if v is not None},
        classes=int(label.num_classes),
        class_names=list(label.names),
        image_shape=tuple(info.features["image"].shape),
        description=f"tfds {d.name}",
    )


def _all_labels(part: DatasetPart) -> np.ndarray:
    """Every label of a tfds split read for random access (class_subset on the grain path)."""
    labels = np.empty(len(part.source), "int32")
    step = 1024
    for start in range(0, len(labels), step):
        rows = list(range(start, min(start + step, len(labels))))
        labels[start : start + len(rows)] = [part.source[i]["label"] for i in rows]
    return labels


# Where tensorflow-datasets downloads prepared datasets from first (its GCS mirror).
DOWNLOAD_HOST = ("storage.googleapis.com", 443)


def _check_known_and_online(recipe, name: str, data_dir: str | None) -> None:
    """A dataset tfds has not prepared needs a download: without internet, say so at once (tfds
    itself retries for minutes before it gives up: 3.5 min for MNIST on a machine without DNS)."""
    import socket

    import tensorflow_datasets as tfds

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as e:  # noqa: BLE001  (an unknown name: tfds lists the known ones)
        raise recipe.error(
            ("data", "name"), f"tensorflow-datasets has no dataset {name!r}: {first_line(e)}"
        ) from None
    if builder.is_prepared():
        return
    try:
        socket.create_connection(DOWNLOAD_HOST, timeout=10).close()
    except OSError as e:
        raise recipe.error(
            ("data", "name"),
            (
                f"tensorflow-datasets has not prepared {name!r} in {Path(builder.data_dir).parents[1]}, "
                f"and this machine cannot reach {DOWNLOAD_HOST[0]} to download it ({e})."
            ),
            hint=f"prepare it where there is internet (`tfds build {name} --data_dir DIR`, or "
            f"one `kerascnn train` there), copy DIR here and set data.data_dir.",
        ) from None


def _resolve(recipe, path, key) -> Path:
    p = Path(path).expanduser()
    if not p.is_absolute() and recipe.path is not None and not p.exists():
        p = recipe.path.parent / p
    if not p.is_dir():
        raise recipe.error(("data", key), f"no folder at {path!r}.")
    if not any(child.is_dir() for child in p.iterdir()):
        raise recipe.error(
            ("data", key),
            f"{path!r} has no class sub-folders: put each class's "
            f"images in a folder named after the class.",
        )
    return p


__all__ = [
    "Splits",
    "Part",
    "ArrayPart",
    "FilesPart",
    "DatasetPart",
    "load_source",
    "synthetic_images",
    "glyph_images",
    "declared_input",
    "SOURCE_DEFAULTS",
    "ConfigError",
]
