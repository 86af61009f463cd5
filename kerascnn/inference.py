"""Using a trained model: load a run directory (or a saved model), evaluate it on labelled images, and
predict the classes of image files.

A run directory knows how its images were fed (`data.json`: input size, resize, crop, mean and std,
class names), so evaluation and prediction repeat exactly what validation did during training. A bare
`.keras` file outside a run directory says none of that: its input size comes from the model, and the
normalization must be named (`normalize="unit"`, "imagenet", "caffe", "tf" or "none").
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kerascnn.config import ConfigError
from kerascnn.data.folder import OTHER_IMAGE_FORMATS

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
# Image formats TensorFlow cannot decode are found in folders too, so that they are named, not ignored
# (OTHER_IMAGE_FORMATS).

__all__ = ["Trained", "Evaluation", "Prediction", "load_trained", "evaluate", "predict",
           "plot_confusion", "image_files", "NORMALIZATIONS"]


@dataclass
class Trained:
    """A trained model with what it takes to feed it raw images.

    Attributes:
        model: the inference model (auxiliary heads removed).
        preprocessing: `kerascnn.data.Preprocessing` (size, crop, mean, std).
        class_names: one name per output.
        model_path: the file the model came from.
        run_dir: its run directory, when it came from one.
    """

    model: object
    preprocessing: object
    class_names: list[str]
    model_path: Path
    run_dir: Path | None = None


@dataclass
class Evaluation:
    """`evaluate`'s result: overall and per-class accuracy, loss and the confusion matrix
    (`confusion[true][predicted]`)."""

    examples: int
    loss: float
    accuracy: float
    top5_accuracy: float | None
    class_names: list[str]
    per_class: dict[str, float]
    confusion: list[list[int]]
    data: str
    extra: dict = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # unreadable images left out: path -> why

    def to_dict(self) -> dict:
        return {"examples": self.examples, "loss": self.loss, "accuracy": self.accuracy,
                "top5_accuracy": self.top5_accuracy, "per_class": self.per_class,
                "class_names": self.class_names, "confusion": self.confusion, "data": self.data,
                "skipped": self.skipped}


# What a model outside a run directory may be told about its input (keras.applications' modes:
# "imagenet" is "torch", "caffe" is VGG's and ResNet's BGR mean subtraction, "tf" is [-1, 1]).
NORMALIZATIONS = ("unit", "imagenet", "caffe", "tf", "none")


def load_trained(target: str | Path, *, normalize: str | None = None) -> Trained:
    """A run directory's model (`model.keras`; an unfinished run's `best.keras`), or a `.keras` file.

    Args:
        normalize: for a model outside a run directory that does not record how it is fed (a
            model saved by `kerascnn port` from published weights does: their crop, interpolation,
            mean and std): "unit" (x / 255), "imagenet" (the ImageNet mean and std), "caffe" (BGR,
            ImageNet mean subtracted: ported VGG and ResNet weights), "tf" ([-1, 1]) or "none"
            (0-255 as they are).
    """
    from kerascnn.data import Preprocessing
    from kerascnn.data.pipeline import fixed_statistics
    from kerascnn.saving import load_model
    from kerascnn.zoo import drop_side_outputs

    path = Path(target)
    run_dir = None
    if path.is_dir():
        run_dir = path
        candidates = [path / n for n in ("model.keras", "best.keras", "last.keras")]
        model_path = next((p for p in candidates if p.is_file()), None)
        if model_path is None:
            raise ConfigError(f"{path} holds no trained model (model.keras, best.keras or "
                              f"last.keras): is it a kerascnn run directory?")
    elif path.is_file():
        if path.suffix != ".keras":
            raise ConfigError(f"expected a run directory or a .keras model. Received: "
                              f"{str(target)!r}.")
        model_path = path
        if (path.parent / "data.json").is_file():
            run_dir = path.parent
    else:
        raise ConfigError(f"no run directory or model at {str(target)!r}.")

    model = drop_side_outputs(load_model(model_path))
    classes = int(model.output_shape[-1])
    if run_dir is not None and (run_dir / "data.json").is_file():
        if normalize is not None:
            raise ConfigError(f"{run_dir} records how its images were normalized; drop "
                              f"--normalize.")
        facts = json.loads((run_dir / "data.json").read_text(encoding="utf-8"))
        pre = Preprocessing.from_dict(facts)
        names = [str(n) for n in facts.get("class_names") or range(classes)]
    elif normalize is None and _feeding(model_path) is not None:  # a model ported from weights
        facts = _feeding(model_path)
        pre = Preprocessing.from_dict(facts["preprocessing"])
        names = [str(n) for n in facts.get("class_names") or range(classes)]
    else:
        if normalize not in NORMALIZATIONS:
            raise ConfigError(f"{model_path} is not in a run directory, so how its images were "
                              f"normalized is unknown: give normalize "
                              f"{', '.join(repr(n) for n in NORMALIZATIONS)}. Received: "
                              f"{normalize!r}.")
        shape = tuple(int(d) for d in model.input_shape[1:])
        if None in shape:
            raise ConfigError(f"{model_path} takes any image size; kerascnn needs a fixed input.")
        channels = shape[2]
        mean, std = fixed_statistics(normalize, channels)
        pre = Preprocessing(shape, shape[:2], "stretch", tuple(mean), tuple(std),
                            bgr=normalize == "caffe" and channels == 3)
        names = [str(i) for i in range(classes)]
    if len(names) != classes or tuple(model.input_shape[1:]) != pre.input_shape:
        raise ConfigError(f"{model_path} does not match its data.json: the model takes "
                          f"{model.input_shape[1:]} and gives {classes} classes; data.json says "
                          f"{pre.input_shape} and {len(names)} classes.")
    return Trained(model=model, preprocessing=pre, class_names=names, model_path=model_path,
                   run_dir=run_dir)


def _feeding(model_path: Path) -> dict | None:
    from kerascnn.saving import read_feeding

    facts = read_feeding(model_path)
    return facts if facts and isinstance(facts.get("preprocessing"), dict) else None


def evaluate(target: str | Path | Trained, data: str | Path | None = None, *,
             split: str = "test", batch_size: int = 64, normalize: str | None = None,
             bad_images: str = "error") -> Evaluation:
    """Accuracy, top-5 accuracy, loss, per-class accuracy and confusion matrix of a trained model.

    Args:
        target: a run directory, a `.keras` file, or a `Trained`.
        data: a folder of labelled images (one sub-folder per class, named as the run's classes), a
            recipe file (its data, `split`), or None: the run's own recipe and `split`.
        split: "test" or "val" of a recipe's data.
        bad_images: image files that cannot be read: "error" (a `ConfigError` naming them, before
            anything is evaluated) or "skip" (left out, listed in `Evaluation.skipped`), as a
            recipe's `data.bad_images`.

    Returns:
        An `Evaluation`: images evaluated, loss, accuracy, top-5 accuracy (more than 5 classes),
        per-class accuracy, the confusion matrix, what data it was and the files skipped.
    """
    trained = target if isinstance(target, Trained) else load_trained(target, normalize=normalize)
    if split not in ("test", "val"):
        raise ConfigError(f"split must be 'test' or 'val'. Received: {split!r}.")
    _check_policy(bad_images)
    if data is not None and Path(data).is_dir():
        dataset, what, skipped = _folder_dataset(trained, Path(data), batch_size, bad_images)
    else:
        dataset, what, skipped = _recipe_dataset(trained, data, split, batch_size, bad_images)
    probabilities, labels = [], []
    for x, y in dataset.as_numpy_iterator():
        probabilities.append(np.asarray(trained.model.predict_on_batch(x), "float64"))
        labels.append(np.asarray(y))
    if not labels:
        raise ConfigError(f"{what} holds no images.")
    p = np.concatenate(probabilities)
    y = np.concatenate(labels).astype(int)
    k = p.shape[1]
    predicted = p.argmax(1)
    confusion = np.zeros((k, k), dtype=int)
    np.add.at(confusion, (y, predicted), 1)
    loss = float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1.0))))
    top5 = None
    if k > 5:
        best5 = np.argsort(-p, axis=1)[:, :5]
        top5 = float(np.mean((best5 == y[:, None]).any(1)))
    totals = confusion.sum(1)
    per_class = {trained.class_names[i]: float(confusion[i, i] / totals[i])
                 for i in range(k) if totals[i]}
    return Evaluation(examples=len(y), loss=loss, accuracy=float(np.mean(predicted == y)),
                      top5_accuracy=top5, class_names=trained.class_names, per_class=per_class,
                      confusion=confusion.tolist(), data=what, skipped=skipped)


BAD_IMAGES = ("error", "skip")


def _check_policy(bad_images: str) -> None:
    if bad_images not in BAD_IMAGES:
        raise ConfigError(f"bad_images must be 'error' or 'skip'. Received: {bad_images!r}.")


@dataclass
class Prediction:
    """One image's most probable classes, best first; `error` says why an unreadable image (left
    out with `bad_images="skip"`) has none."""

    path: str
    classes: list[str]  # best first
    probabilities: list[float]
    error: str | None = None

    def to_dict(self) -> dict:
        if self.error is not None:
            return {"path": self.path, "error": self.error}
        return {"path": self.path, "top": [{"class": c, "probability": p}
                                           for c, p in zip(self.classes, self.probabilities)]}


def predict(target: str | Path | Trained, images, *, top: int = 5, batch_size: int = 64,
            normalize: str | None = None, bad_images: str = "error") -> list[Prediction]:
    """The `top` most probable classes of each image file (files, or folders searched for images).

    Images are read with `tf.io.decode_image` (PNG, JPEG, BMP, GIF, WebP) and fed as in validation.
    Every file is checked before any is classified (`kerascnn.data.folder.check_images`): with
    `bad_images="error"` an unreadable one is a `ConfigError` naming each; with "skip" it gets a
    `Prediction` whose `error` says why, in its place.

    Returns:
        One `Prediction` per image file, in order: its path, the `top` classes best first with
        their probabilities (or, skipped, the reason it could not be read).
    """
    import tensorflow as tf

    from kerascnn.data.folder import check_images, describe_bad

    _check_policy(bad_images)
    trained = target if isinstance(target, Trained) else load_trained(target, normalize=normalize)
    files = image_files(images)
    if top < 1:
        raise ConfigError(f"top must be 1 or more. Received: {top!r}.")
    top = min(top, len(trained.class_names))
    pre = trained.preprocessing
    channels = pre.input_shape[2]
    bad = check_images([str(f) for f in files], channels=channels)
    bad.update({str(f): f"a {f.suffix[1:].upper()} image, a format TensorFlow cannot read"
                for f in files if f.suffix.lower() not in _readable()})
    if bad and bad_images == "error":
        raise ConfigError(f"{len(bad)} of the {len(files)} image files cannot be read: "
                          f"{describe_bad(bad)}.",
                          hint="remove them, or pass --bad-images skip (bad_images=\"skip\") to "
                               "classify the others.")
    readable = [f for f in files if str(f) not in bad]
    found = {}
    for start in range(0, len(readable), batch_size):
        chunk = readable[start:start + batch_size]
        batch = [pre(tf.io.decode_image(tf.io.read_file(str(f)), channels=channels,
                                        expand_animations=False)) for f in chunk]
        probabilities = np.asarray(trained.model.predict_on_batch(tf.stack(batch)), "float64")
        for f, p in zip(chunk, probabilities):
            order = np.argsort(-p)[:top]
            found[str(f)] = Prediction(path=str(f),
                                       classes=[trained.class_names[i] for i in order],
                                       probabilities=[float(p[i]) for i in order])
    return [found.get(str(f)) or Prediction(path=str(f), classes=[], probabilities=[],
                                            error=bad[str(f)]) for f in files]


def _readable() -> tuple[str, ...]:
    from kerascnn.data.folder import readable_formats

    return readable_formats()


def image_files(items) -> list[Path]:
    """Image files named directly, or found (recursively, sorted) in the folders named."""
    if isinstance(items, (str, Path)):
        items = [items]
    files = []
    for item in items:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES
                           or p.suffix.lower() in OTHER_IMAGE_FORMATS)
            if not found:
                raise ConfigError(f"{path} holds no images ({', '.join(IMAGE_SUFFIXES)}).")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise ConfigError(f"no image or folder at {str(item)!r}.")
    if not files:
        raise ConfigError("no images given.")
    return files


def plot_confusion(result: Evaluation, target: str | Path, title: str = "") -> None:
    """The confusion matrix as a picture, rows the true class, columns the predicted one."""
    from matplotlib.figure import Figure  # no pyplot: leaves the backend alone

    matrix = np.asarray(result.confusion, dtype=float)
    rates = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
    k = len(result.class_names)
    size = min(3 + 0.4 * k, 14)
    fig = Figure(figsize=(size, size), dpi=110)
    ax = fig.subplots()
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    if k <= 30:
        ax.set_xticks(range(k), result.class_names, rotation=90)
        ax.set_yticks(range(k), result.class_names)
        if k <= 15:
            for i in range(k):
                for j in range(k):
                    if matrix[i, j]:
                        ax.text(j, i, int(matrix[i, j]), ha="center", va="center", fontsize=8,
                                color="white" if rates[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or f"accuracy {result.accuracy:.2%} on {result.examples} images")
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(target)


def _recipe_dataset(trained: Trained, data, split: str, batch_size: int, bad_images: str):
    from kerascnn.data import load_data
    from kerascnn.recipe import load_recipe

    from kerascnn.config import load_document

    if data is None:
        if trained.run_dir is None or not (trained.run_dir / "recipe.yaml").is_file():
            raise ConfigError(f"{trained.model_path} has no run recipe to take data from; give "
                              f"--data (a folder of labelled images or a recipe).")
        recipe_path = trained.run_dir / "recipe.yaml"
        source, _ = load_document(recipe_path)
        for key in ("distribution", "workers", "worker"):  # evaluation runs in this process
            source.get("train", {}).pop(key, None)
    else:
        recipe_path = source = Path(data)
        if not recipe_path.is_file():
            raise ConfigError(f"no image folder or recipe at {str(data)!r}.")
    pre = trained.preprocessing
    overrides = [f"data.image_size={list(pre.input_shape[:2])}",
                 f"data.load_size={list(pre.load_size)}", f'data.resize="{pre.resize}"',
                 f'data.interpolation="{pre.interpolation}"',
                 f"data.channels={pre.input_shape[2]}", f"data.batch_size={batch_size}",
                 "data.cache=false", f'data.bad_images="{bad_images}"']
    recipe = load_recipe(source, overrides)
    loaded = load_data(recipe, normalization=pre)
    dataset = loaded.test if split == "test" else loaded.val
    if dataset is None:
        raise ConfigError(f"{recipe_path}: its data has no {split} split.")
    if loaded.classes != len(trained.class_names):
        raise ConfigError(f"{recipe_path}: its data has {loaded.classes} classes, the model "
                          f"{len(trained.class_names)}.")
    labels = dataset.map(lambda x, y: (x, _argmax(y)))
    return labels, f"{loaded.description}, {split} split", loaded.skipped


def _argmax(y):
    import tensorflow as tf

    return tf.argmax(y, axis=-1, output_type=tf.int32)


def _folder_dataset(trained: Trained, folder: Path, batch_size: int, bad_images: str):
    """Labelled images in class sub-folders; each sub-folder must be one of the model's classes."""
    import tensorflow as tf

    from kerascnn.data.folder import describe_bad, images_dataset, index_folder

    pre = trained.preprocessing
    names = sorted(p.name for p in folder.iterdir() if p.is_dir())
    unknown = [n for n in names if n not in trained.class_names]
    if not names or unknown:
        raise ConfigError(f"{folder}: each sub-folder must be named after one of the model's "
                          f"classes ({', '.join(trained.class_names[:20])}"
                          f"{', ...' if len(trained.class_names) > 20 else ''}). "
                          + (f"Unknown: {', '.join(unknown)}." if unknown else
                             "Found no sub-folders."))
    index = index_folder(folder, seed=None, shuffle=False, channels=pre.input_shape[2])
    if index.bad and bad_images == "error":
        raise ConfigError(f"{len(index.bad)} of the {index.total} image files in {str(folder)!r} "
                          f"cannot be read: {describe_bad(index.bad, index.root)}.",
                          hint="remove or replace them, or pass --bad-images skip "
                               "(bad_images=\"skip\") to evaluate without them.")
    dataset = images_dataset(index.paths, index.labels, size=pre.load_size,
                             channels=pre.input_shape[2], resize=pre.resize,
                             interpolation=pre.interpolation)
    lookup = tf.constant([trained.class_names.index(n) for n in names], "int32")
    dataset = dataset.map(lambda x, y: (pre(x), tf.gather(lookup, y)),
                          num_parallel_calls=tf.data.AUTOTUNE)
    return (dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE), f"image folder {folder}",
            index.bad)
