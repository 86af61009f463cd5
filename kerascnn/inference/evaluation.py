"""`evaluate`: top-1 and top-5 accuracy, loss, per-class accuracy and the confusion matrix of a trained
model, or of several together (an ensemble: their softmax outputs averaged, AlexNet's and
GoogLeNet's way), under the papers' test protocols (`crops`, `scales`: see `kerascnn.inference.views`).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kerascnn.backend.internals import build_training_state
from kerascnn.config import ConfigError
from kerascnn.data.feed import for_keras
from kerascnn.inference.datasets import labelled_images
from kerascnn.inference.trained import Trained, check_policy, load_trained
from kerascnn.inference.views import load_sizes, views


@dataclass
class Mistake:
    """A wrong prediction: the image's place in the split's order, its true and predicted class
    (indices), the predicted class's probability, and the image as the network saw it (0-255,
    cropped, before normalization: `Trained.preprocessing.normalize` makes the network's input)."""

    index: int
    true: int
    predicted: int
    confidence: float
    image: np.ndarray


@dataclass
class Evaluation:
    """`evaluate`'s result: overall and per-class accuracy, loss and the confusion matrix
    (`confusion[true][predicted]`); for an ensemble, each member's own `Evaluation` in `members`
    (same images, same protocol)."""

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
    model: str = ""
    protocol: dict = field(default_factory=lambda: {"crops": 1, "scales": None})
    members: list[Evaluation] = field(default_factory=list)
    mistakes: list[Mistake] = field(default_factory=list)  # the most confident wrong predictions

    def to_dict(self) -> dict:
        out = {
            "model": self.model,
            "examples": self.examples,
            "loss": self.loss,
            "accuracy": self.accuracy,
            "top5_accuracy": self.top5_accuracy,
            "per_class": self.per_class,
            "class_names": self.class_names,
            "confusion": self.confusion,
            "data": self.data,
            "protocol": self.protocol,
            "skipped": self.skipped,
        }
        if self.members:
            out["members"] = [m.to_dict() for m in self.members]
        return out


def evaluate(
    target,
    data: str | Path | None = None,
    *,
    split: str = "test",
    batch_size: int = 64,
    normalize: str | None = None,
    bad_images: str = "error",
    crops: int = 1,
    scales=None,
    mistakes: int = 0,
) -> Evaluation:
    """Accuracy, top-5 accuracy, loss, per-class accuracy and confusion matrix of a trained model,
    or of an ensemble of them.

    Args:
        target: a run directory, a `.keras` file or a `Trained`; or a list of them: an ensemble,
            whose softmax outputs are averaged (every member needs the same classes, input size
            and image sizing; each normalizes as it was trained).
        data: a folder of labelled images (one sub-folder per class, named as the run's classes), a
            recipe file (its data, `split`), or None: the (first) run's own recipe and `split`.
        split: "test" or "val" of a recipe's data.
        bad_images: image files that cannot be read: "error" (a `ConfigError` naming them, before
            anything is evaluated) or "skip" (left out, listed in `Evaluation.skipped`), as a
            recipe's `data.bad_images`.
        crops: 1 (the centre), 5 (the four corners and the centre) or 10 (those and their mirror
            images: AlexNet's test); the softmax outputs are averaged over the views. More than
            one crop needs images larger than the input: the run's own load size, or `scales`.
        scales: the sizes each image's shorter side is brought to before cropping, e.g.
            `[256, 288, 320]` (VGG's multi-scale test); the softmax is averaged over scales too.
            Default: the run's own load size.
        mistakes: keep this many of the most confident wrong predictions, with their images
            (`Evaluation.mistakes`, most confident first; ties: the earlier image first). One
            model, one view.

    Returns:
        An `Evaluation`: images evaluated, loss, accuracy, top-5 accuracy (more than 5 classes),
        per-class accuracy, the confusion matrix, what data it was and the files skipped; for a
        list of targets, the ensemble's, with each member's in `members`.
    """
    check_policy(bad_images)
    if split not in ("test", "val"):
        raise ConfigError(f"split must be 'test' or 'val'. Received: {split!r}.")
    ensemble = isinstance(target, (list, tuple))
    targets = list(target) if ensemble else [target]
    if not targets:
        raise ConfigError("an ensemble needs at least one model. Received: an empty list.")
    members = [t if isinstance(t, Trained) else load_trained(t, normalize=normalize) for t in targets]
    first = members[0]
    if mistakes and (ensemble or crops != 1 or scales is not None):
        raise ConfigError("mistakes are kept for one model and one view (crops=1, no scales).")
    for other in members[1:]:
        _check_member(first, other)
    scales = None if scales is None else list(scales)
    sizes = load_sizes(first.preprocessing, crops, scales)
    crop = first.preprocessing.input_shape[:2]
    sums = [0.0] * len(members)
    labels = None
    kept = []  # a heap of the most confident wrong predictions
    for size in sizes:
        dataset, what, skipped = labelled_images(first, data, split, batch_size, bad_images, size)
        found, ys, seen = [[] for _ in members], [], 0
        for x, y in dataset.as_numpy_iterator():
            ys.append(np.asarray(y))
            for k, member in enumerate(members):
                found[k].append(sum(_probabilities(member, view) for view in views(x, crop, crops)))
            if mistakes:
                _keep_mistakes(kept, mistakes, found[0][-1], ys[-1], views(x, crop, 1)[0], seen)
            seen += len(ys[-1])
        if not ys:
            raise ConfigError(f"{what} holds no images.")
        y = np.concatenate(ys).astype(int)
        if labels is not None and not np.array_equal(labels, y):
            raise ConfigError(
                f"{what}: the images came in another order at scale {size}; "
                f"multi-scale evaluation needs a fixed order."
            )
        labels = y
        sums = [s + np.concatenate(f) for s, f in zip(sums, found)]
    protocol = {"crops": crops, "scales": scales}
    views_per_image = len(sizes) * crops
    scored = [
        _score(
            s / views_per_image,
            labels,
            first.class_names,
            what,
            skipped,
            model=str(m.run_dir or m.model_path),
            protocol=protocol,
        )
        for s, m in zip(sums, members)
    ]
    if not ensemble:
        scored[0].mistakes = [m for _, _, m in sorted(kept, key=lambda e: (-e[0], -e[1]))]
        return scored[0]
    average = sum(s / views_per_image for s in sums) / len(members)
    result = _score(
        average,
        labels,
        first.class_names,
        what,
        skipped,
        model=f"ensemble of {len(members)}",
        protocol=protocol,
    )
    result.members = scored
    return result


def _keep_mistakes(kept: list, limit: int, p: np.ndarray, y: np.ndarray, images, start: int):
    """Push a batch's wrong predictions into `kept` (a min-heap on (confidence, -index)), at most
    `limit`: the most confident stay."""
    predicted = p.argmax(1)
    for i in np.flatnonzero(predicted != y):
        confidence = float(p[i, predicted[i]])
        entry = (confidence, -(start + int(i)))
        if len(kept) >= limit and entry <= kept[0][:2]:
            continue
        image = np.clip(np.rint(images[i]), 0, 255).astype(np.uint8)
        mistake = Mistake(start + int(i), int(y[i]), int(predicted[i]), confidence, image)
        item = (*entry, mistake)
        if len(kept) < limit:
            heapq.heappush(kept, item)
        else:
            heapq.heapreplace(kept, item)


def _probabilities(member: Trained, images: np.ndarray) -> np.ndarray:
    # NumPy in: the model may run on any backend (JAX's jit takes no TensorFlow tensors).
    x = np.asarray(member.preprocessing.normalize(images), "float32")
    return np.asarray(member.model.predict_on_batch(x), "float64")


def _check_member(first: Trained, other: Trained) -> None:
    a, b = first.preprocessing, other.preprocessing
    for what, mine, theirs in (
        ("classes", first.class_names, other.class_names),
        ("input shape", a.input_shape, b.input_shape),
        ("load size", a.load_size, b.load_size),
        ("resize", a.resize, b.resize),
        ("interpolation", a.interpolation, b.interpolation),
    ):
        if _plain(mine) != _plain(theirs):
            raise ConfigError(
                f"the models of an ensemble must see the same images: "
                f"{other.run_dir or other.model_path} has {what} {theirs!r}, "
                f"{first.run_dir or first.model_path} has {mine!r}."
            )


def _plain(value):
    return (
        value
        if isinstance(value, str)
        else [_plain(v) for v in value]
        if isinstance(value, (list, tuple))
        else value
    )


def _score(
    p: np.ndarray,
    y: np.ndarray,
    names: list[str],
    what: str,
    skipped: dict,
    *,
    model: str,
    protocol: dict,
) -> Evaluation:
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
    per_class = {names[i]: float(confusion[i, i] / totals[i]) for i in range(k) if totals[i]}
    return Evaluation(
        examples=len(y),
        loss=loss,
        accuracy=float(np.mean(predicted == y)),
        top5_accuracy=top5,
        class_names=names,
        per_class=per_class,
        confusion=confusion.tolist(),
        data=what,
        skipped=skipped,
        model=model,
        protocol=dict(protocol),
    )


def plot_confusion(result: Evaluation, target: str | Path, title: str = "") -> None:
    """The confusion matrix as a picture, rows the true class, columns the predicted one."""
    from kerascnn.visualize.figures import confusion, save  # keeps kerascnn.inference free of Keras

    title = title or f"accuracy {result.accuracy:.2%} on {result.examples} images"
    save(confusion(result.confusion, result.class_names, title), target)


def test_results(loaded, inference, files: dict, chosen: str, test_ds) -> dict:
    """metrics.json's test results of a finished run: `test_final` and `test_best`, and `test`,
    the run's model's (`chosen`, whose weights `loaded` holds, and `inference` its main output over
    the same layers; `files`: the final and best weights' files, the same file when the best epoch
    is the last). The run's model is evaluated, then the other file's weights loaded into the same
    compiled model (its test step traced once); once when they are the same."""
    import keras  # here: the command line reads this package before it loads Keras

    first = test_ds.map(lambda x, y: (x, y[0] if isinstance(y, tuple) else y))
    inference.compile(loss=keras.losses.CategoricalCrossentropy(), metrics=["accuracy"])
    build_training_state(inference, first)

    def evaluate() -> dict:
        test_input, test_steps = for_keras(first)
        values = inference.evaluate(test_input, steps=test_steps, verbose=0, return_dict=True)
        return {k: float(v) for k, v in values.items()}

    other = "best" if chosen == "final" else "final"
    found = {chosen: evaluate()}
    if files[other] == files[chosen]:
        found[other] = found[chosen]
    else:
        loaded.load_weights(files[other])  # weights only: the file is this run's own
        found[other] = evaluate()
    return {f"test_{k}": v for k, v in found.items()} | {"test": found[chosen]}
