"""Loading a recipe's data (`load_data`): its source read, the preprocessing record made, and the
splits handed to the input path the recipe and backend choose (`kerascnn.data.choice`): the tf.data
path (`kerascnn.data.tfdata`) or the grain path (`kerascnn.data.feed`, its training batches made on
the device where that applies: `kerascnn.data.device`); the batches and their facts as one `Data`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from kerascnn.config import ConfigError
from kerascnn.data import device, feed, tfdata
from kerascnn.data.choice import pipeline
from kerascnn.data.feed import batches_of
from kerascnn.data.feeding import Feeding
from kerascnn.data.preprocessing import Preprocessing, fixed_statistics, measured_statistics
from kerascnn.data.sources import load_source, split_counts
from kerascnn.recipe import Recipe

__all__ = ["Data", "load_data"]

STATS_SAMPLE = 10_000  # images used to estimate the training set's mean and std


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

    @property
    def feeding(self) -> Feeding:
        """How a model trained on this data is fed, with the data's facts: what a run directory
        keeps (`data.json`) to feed evaluation and prediction the same way."""
        facts = {"description": self.description, "sizes": self.sizes, "classes": self.classes}
        return Feeding(
            self.preprocessing,
            class_names=tuple(str(n) for n in self.class_names),
            details={**facts, **({"counts": self.counts} if self.counts else {})},
        )


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
    make = _grain if path == "grain" else _tf_data
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


def _grain(recipe, splits, pre, *, seed, outputs, drop_remainder, centre_crop) -> dict:
    """The grain path's batches (`kerascnn.data.feed`), the training split's made on the device
    where that applies (`kerascnn.data.device`)."""
    on_device = None
    if splits.train is not None:
        on_device = device.device_feed(recipe, splits.train, pre, splits.classes, seed, drop_remainder)
    return feed.feeds(
        recipe,
        splits,
        pre,
        seed=seed,
        outputs=outputs,
        drop_remainder=drop_remainder,
        centre_crop=centre_crop,
        train=on_device,
    )


def _tf_data(recipe, splits, pre, **options) -> dict:
    """The tf.data path's batches (`kerascnn.data.tfdata`)."""
    return tfdata.datasets(recipe, splits, pre, **options)


def _statistics(kind, train, shaping, path: str) -> tuple[list[float], list[float]]:
    """The normalization's mean and std per channel; "standardize": of the first `STATS_SAMPLE`
    training images, shaped, in the source's order (the same images on either path)."""
    channels = shaping.input_shape[2]
    if kind != "standardize":
        return fixed_statistics(kind, channels)
    sample = tfdata.shaped_sample if path == "tf.data" else feed.shaped_sample
    return measured_statistics(sample(train, shaping, STATS_SAMPLE), channels)
